using Onnx;
using OnnxSteer.Import;
using OnnxSteer.ModelFiles;
using Xunit;

namespace OnnxSteer.Tests.Import;

public sealed class WeightEncoderTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"onnxsteer-encoder-{Guid.NewGuid():N}");
    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); }

    /// <summary>Runs <paramref name="encode"/> against a real external data file and returns the file's bytes.</summary>
    private byte[] Encode(Action<WeightSink> encode)
    {
        using var writer = new ExternalDataWriter(_dir, "x.data");
        encode(new WeightSink(writer));
        writer.Commit();
        return File.ReadAllBytes(Path.Combine(_dir, "x.data"));
    }

    // K = 70 is not a multiple of 32, so the last block is padded.
    private static readonly LlamaConfig Shape = new(Dim: 64, HiddenDim: 70, Layers: 1, Heads: 4, KvHeads: 2, VocabSize: 300, MaxSequenceLength: 16);

    private static float[,] Dense(ILlamaWeights w, LlamaTensor t)
    {
        var (rows, cols) = LlamaTensorShapes.Of(t, w.Config);
        var m = new float[rows, cols];
        var row = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            w.ReadRow(t, 0, r, 0, row);
            for (int c = 0; c < cols; c++) m[r, c] = row[c];
        }
        return m;
    }

    [Fact]
    public void MatMulNBits_layout_dequantises_to_within_half_a_step_of_every_weight()
    {
        var weights = new SyntheticLlamaWeights(Shape, seed: 7);
        var dense = Dense(weights, LlamaTensor.Down); // [K=70, N=64]
        TensorProto b = null!, scales = null!;
        var bytes = Encode(sink => (b, scales) = WeightEncoder.MatMulNBits(sink, "b", "s", weights, LlamaTensor.Down, 0));
        Assert.Equal(new long[] { 64, 3, 16 }, b.Dims.ToArray());
        long bOffset = long.Parse(b.ExternalData.Single(e => e.Key == "offset").Value);
        long sOffset = long.Parse(scales.ExternalData.Single(e => e.Key == "offset").Value);
        for (int n = 0; n < 64; n++)
            for (int k = 0; k < 70; k++)
            {
                int block = k / 32, within = k % 32;
                byte packed = bytes[bOffset + (n * 3 + block) * 16 + within / 2];
                int q = (within % 2 == 0 ? packed & 0x0F : packed >> 4) - 8;
                float scale = BitConverter.ToSingle(bytes, (int)(sOffset + 4 * (n * 3 + block)));
                Assert.True(Math.Abs(q * scale - dense[k, n]) <= scale / 2 + 1e-6, $"k={k} n={n}: {q * scale} vs {dense[k, n]}");
            }
    }

    [Fact]
    public void Blocked_int4_for_DequantizeLinear_dequantises_to_within_half_a_step()
    {
        var weights = new SyntheticLlamaWeights(Shape, seed: 8);
        var dense = Dense(weights, LlamaTensor.Down);
        TensorProto q = null!, scales = null!;
        var bytes = Encode(sink => (q, scales) = WeightEncoder.BlockedInt4(sink, "q", "s", weights, LlamaTensor.Down, 0));
        Assert.Equal(new long[] { 70, 64 }, q.Dims.ToArray());
        Assert.Equal(new long[] { 3, 64 }, scales.Dims.ToArray());
        long qOffset = long.Parse(q.ExternalData.Single(e => e.Key == "offset").Value);
        long sOffset = long.Parse(scales.ExternalData.Single(e => e.Key == "offset").Value);
        for (int k = 0; k < 70; k++)
            for (int n = 0; n < 64; n++)
            {
                long e = (long)k * 64 + n;
                int nibble = (bytes[qOffset + e / 2] >> (int)(4 * (e % 2))) & 0x0F;
                int value = nibble >= 8 ? nibble - 16 : nibble;
                float scale = BitConverter.ToSingle(bytes, (int)(sOffset + 4 * ((k / 32) * 64 + n)));
                Assert.True(Math.Abs(value * scale - dense[k, n]) <= scale / 2 + 1e-6, $"k={k} n={n}");
            }
    }
}
