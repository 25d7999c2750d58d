namespace OnnxSteer.Import;

/// <summary>
/// The shape of a Llama-architecture decoder: what an exporter needs to lay out the graph and its weights.
/// </summary>
/// <param name="Dim">Model (hidden) width.</param>
/// <param name="HiddenDim">Feed-forward (intermediate) width.</param>
/// <param name="Layers">Number of decoder layers.</param>
/// <param name="Heads">Number of query heads.</param>
/// <param name="KvHeads">Number of key/value heads (grouped-query attention when fewer than <paramref name="Heads"/>).</param>
/// <param name="VocabSize">Vocabulary size.</param>
/// <param name="MaxSequenceLength">Longest context the rotary tables cover.</param>
/// <param name="NormEpsilon">RMSNorm epsilon (llama2.c uses 1e-5).</param>
/// <param name="RopeTheta">Rotary base (10000 in llama2.c).</param>
public sealed record LlamaConfig(
    int Dim, int HiddenDim, int Layers, int Heads, int KvHeads, int VocabSize, int MaxSequenceLength,
    float NormEpsilon = 1e-5f, float RopeTheta = 10000f)
{
    /// <summary>Width of one attention head.</summary>
    public int HeadSize => Dim / Heads;

    /// <summary>Width of the key/value projections.</summary>
    public int KvDim => KvHeads * HeadSize;

    /// <summary>Query heads per key/value head.</summary>
    public int GroupSize => Heads / KvHeads;

    /// <summary>Throws <see cref="ArgumentException"/> when the numbers cannot describe a valid model.</summary>
    internal void Validate()
    {
        if (Dim <= 0 || HiddenDim <= 0 || Layers <= 0 || Heads <= 0 || KvHeads <= 0 || VocabSize <= 0 || MaxSequenceLength <= 0)
            throw new ArgumentException($"all sizes must be positive: {this}");
        if (Dim % Heads != 0) throw new ArgumentException($"hidden size {Dim} is not a multiple of the head count {Heads}");
        if (Heads % KvHeads != 0) throw new ArgumentException($"head count {Heads} is not a multiple of the KV head count {KvHeads}");
        if (HeadSize % 2 != 0) throw new ArgumentException($"head size {HeadSize} must be even for rotary embeddings");
    }
}
