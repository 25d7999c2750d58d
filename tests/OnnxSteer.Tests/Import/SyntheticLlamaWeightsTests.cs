using OnnxSteer.Import;
using Xunit;

namespace OnnxSteer.Tests.Import;

public sealed class SyntheticLlamaWeightsTests
{
    private static readonly LlamaConfig Shape = new(128, 344, 3, 8, 2, 1000, 64);

    [Fact]
    public void Values_are_a_pure_function_of_seed_and_position_so_pieces_equal_whole_rows()
    {
        var a = new SyntheticLlamaWeights(Shape, 42);
        var b = new SyntheticLlamaWeights(Shape, 42);
        var whole = new float[344];
        a.ReadRow(LlamaTensor.Gate, 1, 17, 0, whole);
        var piece = new float[100];
        b.ReadRow(LlamaTensor.Gate, 1, 17, 200, piece);
        Assert.Equal(whole[200..300], piece);
    }

    [Fact]
    public void Seeds_layers_and_roles_give_different_values_with_the_intended_scale()
    {
        var a = new SyntheticLlamaWeights(Shape, 1);
        var b = new SyntheticLlamaWeights(Shape, 2);
        float[] Row(SyntheticLlamaWeights w, LlamaTensor t, int layer) { var r = new float[128]; w.ReadRow(t, layer, 0, 0, r); return r; }
        Assert.NotEqual(Row(a, LlamaTensor.Query, 0), Row(b, LlamaTensor.Query, 0));
        Assert.NotEqual(Row(a, LlamaTensor.Query, 0), Row(a, LlamaTensor.Query, 1));
        Assert.NotEqual(Row(a, LlamaTensor.Query, 0), Row(a, LlamaTensor.Gate, 0));
        // Uniform(-a, a) with a = sqrt(3 / fanIn): variance 1 / fanIn = 1/128; norms sit in [0.9, 1.1].
        var big = new float[128 * 128];
        for (int r = 0; r < 128; r++) a.ReadRow(LlamaTensor.Query, 0, r, 0, big.AsSpan(r * 128, 128));
        double variance = big.Select(v => (double)v * v).Average();
        Assert.InRange(variance, 0.9 / 128, 1.1 / 128);
        Assert.All(Row(a, LlamaTensor.AttentionNorm, 2)[..128], v => Assert.InRange(v, 0.9f, 1.1f));
    }
}
