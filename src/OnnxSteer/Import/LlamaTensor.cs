namespace OnnxSteer.Import;

/// <summary>The weight tensors of a Llama decoder, one entry per role (per-layer roles repeat for every layer).</summary>
internal enum LlamaTensor
{
    /// <summary>Token embedding, [vocab, dim].</summary>
    Embedding,
    /// <summary>RMSNorm weight before attention, [dim].</summary>
    AttentionNorm,
    /// <summary>Query projection, [dim, heads*headSize] (input-major, as ONNX MatMul takes it).</summary>
    Query,
    /// <summary>Key projection, [dim, kvHeads*headSize].</summary>
    Key,
    /// <summary>Value projection, [dim, kvHeads*headSize].</summary>
    Value,
    /// <summary>Attention output projection, [heads*headSize, dim].</summary>
    Output,
    /// <summary>RMSNorm weight before the MLP, [dim].</summary>
    FeedForwardNorm,
    /// <summary>SwiGLU gate projection (llama2.c w1), [dim, hidden].</summary>
    Gate,
    /// <summary>SwiGLU up projection (llama2.c w3), [dim, hidden].</summary>
    Up,
    /// <summary>Down projection (llama2.c w2), [hidden, dim].</summary>
    Down,
    /// <summary>Final RMSNorm weight, [dim].</summary>
    FinalNorm,
    /// <summary>Classifier, [dim, vocab].</summary>
    LmHead,
}

/// <summary>Shapes of <see cref="LlamaTensor"/> roles.</summary>
internal static class LlamaTensorShapes
{
    /// <summary>Rows and columns of a role in ONNX orientation (vectors are one row).</summary>
    public static (int Rows, int Cols) Of(LlamaTensor tensor, LlamaConfig c) => tensor switch
    {
        LlamaTensor.Embedding => (c.VocabSize, c.Dim),
        LlamaTensor.AttentionNorm or LlamaTensor.FeedForwardNorm or LlamaTensor.FinalNorm => (1, c.Dim),
        LlamaTensor.Query => (c.Dim, c.Dim),
        LlamaTensor.Key or LlamaTensor.Value => (c.Dim, c.KvDim),
        LlamaTensor.Output => (c.Dim, c.Dim),
        LlamaTensor.Gate or LlamaTensor.Up => (c.Dim, c.HiddenDim),
        LlamaTensor.Down => (c.HiddenDim, c.Dim),
        LlamaTensor.LmHead => (c.Dim, c.VocabSize),
        _ => throw new ArgumentOutOfRangeException(nameof(tensor)),
    };

    /// <summary>Whether the role exists once per layer.</summary>
    public static bool IsPerLayer(LlamaTensor tensor) =>
        tensor is not (LlamaTensor.Embedding or LlamaTensor.FinalNorm or LlamaTensor.LmHead);
}
