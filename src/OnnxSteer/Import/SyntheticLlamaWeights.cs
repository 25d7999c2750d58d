namespace OnnxSteer.Import;

/// <summary>
/// Deterministic pseudo-random weights for a Llama decoder of any shape. Every element is a pure function of
/// (seed, tensor, layer, row, column), so tensors can be read in any order and any piece, and nothing is stored:
/// a multi-gigabyte model is written with memory bounded by the exporter's chunk size.
/// </summary>
public sealed class SyntheticLlamaWeights(LlamaConfig config, ulong seed) : ILlamaWeights
{
    /// <inheritdoc />
    public LlamaConfig Config { get; } = config;

    /// <summary>The seed every value derives from.</summary>
    public ulong Seed { get; } = seed;

    /// <inheritdoc />
    public void ReadRow(LlamaTensor tensor, int layer, int row, int colStart, Span<float> dest)
    {
        var (rows, cols) = LlamaTensorShapes.Of(tensor, Config);
        if (!LlamaTensorShapes.IsPerLayer(tensor)) layer = 0;
        ulong stream = Mix(Seed ^ ((ulong)tensor + 1) * 0x9E3779B97F4A7C15UL ^ ((ulong)layer + 1) * 0xC2B2AE3D27D4EB4FUL);
        bool isNorm = tensor is LlamaTensor.AttentionNorm or LlamaTensor.FeedForwardNorm or LlamaTensor.FinalNorm;
        // Uniform(-a, a) with variance 1/fanIn keeps activations O(1) through the layers; norms sit near 1.
        float amplitude = isNorm ? 0.1f : tensor == LlamaTensor.Embedding ? 1.0f : MathF.Sqrt(3f / rows);
        float center = isNorm ? 1f : 0f;
        ulong index = (ulong)row * (ulong)cols + (ulong)colStart;
        for (int j = 0; j < dest.Length; j++)
        {
            ulong bits = Mix(stream + (index + (ulong)j) * 0x9E3779B97F4A7C15UL);
            float unit = (bits >> 40) * (1f / (1 << 24)); // [0, 1) from the top 24 bits
            dest[j] = center + amplitude * (2f * unit - 1f);
        }
    }

    /// <summary>SplitMix64's finaliser: a fast, well-mixed bijection on 64-bit integers.</summary>
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
