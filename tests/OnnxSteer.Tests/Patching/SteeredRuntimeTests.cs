using Onnx;
using OnnxSteer.Patching;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;
using Xunit;

namespace OnnxSteer.Tests.Patching;

/// <summary>The rewrite checked through ONNX Runtime on the in-code decoder (fp32, fp16; MatMul and Gemm).</summary>
public class SteeredRuntimeTests
{
    private const int F32 = (int)TensorProto.Types.DataType.Float;
    private const int F16 = (int)TensorProto.Types.DataType.Float16;
    private static readonly SteeringProvenance Prov = new("austeer", 3, 1, null);

    private static Dictionary<string, float[]> Run(TinyDecoder d, ModelProto model, int seed, params string[] wanted)
    {
        var tokens = 5;
        long[] shape = d.Gemm ? [tokens, TinyDecoder.Hidden] : [1, tokens, TinyDecoder.Hidden];
        using var x = OrtHarness.Tensor(OrtHarness.Random(tokens * TinyDecoder.Hidden, seed), shape, d.ElementType);
        return OrtHarness.Run(model, null, new Dictionary<string, OrtValue> { ["x"] = x }, wanted.Length == 0 ? ["logits"] : wanted, d.ElementType);
    }

    private static SteeringPlan AllSites(TinyDecoder d, double gamma) => SteeringPlan.Scale(d.Sites(),
        [(SiteKind.Attn, 0, 1, gamma), (SiteKind.Attn, 0, 6, -gamma / 2), (SiteKind.Mlp, 0, 0, gamma), (SiteKind.Mlp, 0, 11, gamma / 3), (SiteKind.MlpOut, 0, 4, -gamma)], Prov);

    [Theory]
    [InlineData(F32, false)]
    [InlineData(F16, false)]
    [InlineData(F32, true)]
    public void Alpha_zero_gives_bitwise_identical_logits(int type, bool gemm)
    {
        var d = new TinyDecoder(type, gemm);
        var steered = GraphPatcher.Apply(d.Model(), AllSites(d, 0.0), PatchOptions.Default).Model.Proto;
        Assert.Equal(d.Proto.Graph.Node.Count + 3, steered.Graph.Node.Count);
        foreach (var seed in new[] { 1, 2, 3 })
            Assert.Equal(Run(d, d.Proto, seed)["logits"], Run(d, steered, seed)["logits"]);
    }

    [Theory]
    [InlineData(SiteKind.Attn)]
    [InlineData(SiteKind.Mlp)]
    [InlineData(SiteKind.MlpOut)]
    public void Activation_at_the_projection_is_scaled_by_one_plus_gamma_and_untouched_units_are_bitwise_equal(SiteKind kind)
    {
        var d = new TinyDecoder();
        var site = d.Sites().Single(s => s.Kind == kind);
        (int Index, double Gamma)[] units = [(0, 0.75), (3, -0.4), (site.Width - 1, 2.5)];
        var plan = SteeringPlan.Scale(d.Sites(), units.Select(u => (kind, 0, u.Index, u.Gamma)), Prov);
        var patched = GraphPatcher.Apply(d.Model(), plan, PatchOptions.Default);
        var edit = patched.Step.Edits.Single();
        // What the projection reads now (input edge) / what its readers read now (output edge), against the original value.
        var steeredValue = kind == SiteKind.MlpOut ? site.ValueName : edit.Output!;
        foreach (var seed in new[] { 4, 5 })
        {
            var original = Run(d, d.Proto, seed, site.ValueName)[site.ValueName];
            var steered = Run(d, patched.Model.Proto, seed, steeredValue)[steeredValue];
            Assert.Equal(original.Length, steered.Length);
            for (var i = 0; i < original.Length; i++)
            {
                var unit = i % site.Width;
                var match = units.Where(u => u.Index == unit).ToList();
                if (match.Count == 0)
                {
                    Assert.Equal(BitConverter.SingleToInt32Bits(original[i]), BitConverter.SingleToInt32Bits(steered[i]));
                    continue;
                }
                var expected = (1 + match[0].Gamma) * original[i];
                Assert.True(Math.Abs(steered[i] - expected) <= 1e-6 * Math.Abs(expected),
                    $"unit {unit}: {steered[i]} vs (1+gamma)·x = {expected}");
            }
        }
    }

    [Theory]
    [InlineData(F32, false, 1e-5)]
    [InlineData(F32, true, 1e-5)]
    [InlineData(F16, false, 2e-3)]
    public void Fold_and_Mul_give_the_same_logits(int type, bool gemm, double tolerance)
    {
        var d = new TinyDecoder(type, gemm);
        // Each site on its own projection, so every one of them folds.
        var plan = SteeringPlan.Scale(d.Sites(), [(SiteKind.Attn, 0, 1, 0.8), (SiteKind.Attn, 0, 6, -0.3), (SiteKind.MlpOut, 0, 4, 1.5), (SiteKind.MlpOut, 0, 2, -0.6)], Prov);
        var mul = GraphPatcher.Apply(d.Model(), plan, PatchOptions.Default).Model.Proto;
        var folded = GraphPatcher.Apply(d.Model(), plan, new PatchOptions(Fold: true));
        Assert.Equal("fold", folded.Step.Apply);
        Assert.Equal(d.Proto.Graph.Node.Count, folded.Model.Graph.Node.Count);
        foreach (var seed in new[] { 6, 7, 8 })
        {
            var a = Run(d, mul, seed)["logits"];
            var b = Run(d, folded.Model.Proto, seed)["logits"];
            var baseline = Run(d, d.Proto, seed)["logits"];
            Assert.True(OrtHarness.MaxRelativeDifference(a, b) <= tolerance, $"fold vs Mul differ by {OrtHarness.MaxRelativeDifference(a, b)}");
            // And steering did something: the steered logits moved far more than fold and Mul differ.
            var moved = OrtHarness.MaxRelativeDifference(a, baseline);
            Assert.True(moved > tolerance && moved > 100 * OrtHarness.MaxRelativeDifference(a, b), $"steering moved logits by only {moved}");
        }
    }

    [Fact]
    public void Mlp_input_fold_matches_Mul()
    {
        var d = new TinyDecoder();
        var plan = SteeringPlan.Scale(d.Sites(), [(SiteKind.Mlp, 0, 0, 2.0), (SiteKind.Mlp, 0, 7, -0.9)], Prov);
        var mul = GraphPatcher.Apply(d.Model(), plan, PatchOptions.Default).Model.Proto;
        var folded = GraphPatcher.Apply(d.Model(), plan, new PatchOptions(Fold: true)).Model.Proto;
        var a = Run(d, mul, 9)["logits"];
        var b = Run(d, folded, 9)["logits"];
        Assert.True(OrtHarness.MaxRelativeDifference(a, b) <= 1e-5);
    }
}
