using System.Numerics;

namespace OnnxSteer.Import;

/// <summary>
/// Deterministic pseudo-random weights for a Llama decoder of any shape. Every element is a pure function of
/// (seed, tensor, layer, row, column), so tensors can be read in any order and any piece, and nothing is stored:
/// a multi-gigabyte model is written with memory bounded by the exporter's chunk size.
/// </summary>
internal sealed class SyntheticLlamaWeights(LlamaConfig config, ulong seed) : ILlamaWeights
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
        uint key = (uint)(stream ^ (stream >> 32));
        // Element index within the tensor; tensors hold fewer than 2^32 elements, so 32 bits name every element.
        uint index = (uint)((ulong)row * (ulong)cols + (ulong)colStart);
        int j = 0;
        if (Vector.IsHardwareAccelerated && dest.Length >= Vector<uint>.Count)
        {
            var lanes = Vector<uint>.Indices;
            var keys = new Vector<uint>(key);
            for (; j <= dest.Length - Vector<uint>.Count; j += Vector<uint>.Count)
            {
                var x = Hash((new Vector<uint>(index + (uint)j) + lanes) * Golden + keys);
                var unit = Vector.ConvertToSingle(Vector.AsVectorInt32(Vector.ShiftRightLogical(x, 8))) * (1f / (1 << 24));
                (new Vector<float>(center) + new Vector<float>(amplitude) * (unit * 2f - Vector<float>.One)).CopyTo(dest[j..]);
            }
        }
        for (; j < dest.Length; j++)
        {
            uint x = Hash((index + (uint)j) * Golden + key);
            float unit = (int)(x >> 8) * (1f / (1 << 24));
            dest[j] = center + amplitude * (unit * 2f - 1f);
        }
    }

    private const uint Golden = 0x9E3779B9u;

    /// <summary>lowbias32 (Wellons): a fast, well-mixed bijection on 32-bit integers; vector and scalar forms agree.</summary>
    private static uint Hash(uint x)
    {
        x ^= x >> 16; x *= 0x7FEB352Du; x ^= x >> 15; x *= 0x846CA68Bu; x ^= x >> 16;
        return x;
    }

    private static Vector<uint> Hash(Vector<uint> x)
    {
        x ^= Vector.ShiftRightLogical(x, 16); x *= 0x7FEB352Du;
        x ^= Vector.ShiftRightLogical(x, 15); x *= 0x846CA68Bu;
        return x ^ Vector.ShiftRightLogical(x, 16);
    }

    /// <summary>SplitMix64's finaliser: mixes seed, tensor and layer into one stream key.</summary>
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
