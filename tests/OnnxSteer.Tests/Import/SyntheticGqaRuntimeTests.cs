using OnnxSteer.Import;
using OnnxSteer.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Import;

/// <summary>
/// A synthetic model with head size 16, where the genai style uses GroupQueryAttention with fused interleaved rotary
/// (stories260K's head size 8 takes the RotaryEmbedding + MultiHeadAttention path), checked against the reference.
/// </summary>
public sealed class SyntheticGqaRuntimeTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"onnxsteer-gqa-{Guid.NewGuid():N}");
    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); }

    [Theory]
    [InlineData(ExportStyle.Genai)]
    [InlineData(ExportStyle.Standard)]
    internal void Grouped_query_model_with_head_size_16_matches_the_reference(ExportStyle style)
    {
        var config = new LlamaConfig(Dim: 64, HiddenDim: 96, Layers: 2, Heads: 4, KvHeads: 2, VocabSize: 300, MaxSequenceLength: 64);
        var weights = new SyntheticLlamaWeights(config, seed: 11);
        var result = SyntheticModel.Write(config, 11, _dir, style, ExportDType.Fp32);
        var reference = new LlamaReference(Llama2cCheckpoint.Parse(Llama2cCheckpoint.ToLlama2cBytes(weights), "synthetic"));
        int[] ids = [1, 50, 260, 7, 299, 120, 33, 33, 5, 280, 1, 17];

        using var runner = new OnnxLlamaRunner(result.Directory);
        var onnx = runner.Logits(ids);
        var expected = reference.Forward(ids).Logits;
        double worst = 0;
        for (int p = 0; p < ids.Length; p++)
            for (int v = 0; v < 300; v++) worst = Math.Max(worst, Math.Abs(onnx[p][v] - expected[p][v]));
        output.WriteLine($"{style}: max |onnx - reference| = {worst:G3}");
        Assert.True(worst < 1e-4, $"max difference {worst}");
        Assert.Equal(reference.Greedy(ids, 10), runner.Greedy(ids, 10));
        if (style == ExportStyle.Genai)
            Assert.Contains(OnnxSteer.ModelFiles.OnnxModel.Load(result.ModelPath).Graph.Node, n => n.OpType == "GroupQueryAttention");
    }
}
