using Onnx;
using OnnxSteer.Patching;
using OnnxSteer.Sites;
using Xunit;

namespace OnnxSteer.Tests.Patching;

public class WeightFoldTests
{
    private static readonly SteeringProvenance Prov = new("austeer", 2, 4, null);
    private const int F32 = (int)TensorProto.Types.DataType.Float;
    private const int F16 = (int)TensorProto.Types.DataType.Float16;

    private static float[] Weight(ModelProto m, string name, int type) =>
        ElementEncoding.Decode(m.Graph.Initializer.Single(i => i.Name == name).RawData.Span, type);

    [Theory]
    [InlineData(F32)]
    [InlineData(F16)]
    public void Input_fold_scales_row_i_of_MatMul_B_and_keeps_the_op_count(int type)
    {
        var d = new TinyDecoder(type);
        var plan = SteeringPlan.Scale(d.Sites(), [(SiteKind.Mlp, 0, 3, 0.75), (SiteKind.Mlp, 0, 9, -0.4)], Prov);
        var result = GraphPatcher.Apply(d.Model(), plan, new PatchOptions(Fold: true));
        Assert.Equal(d.Proto.Graph.Node.Count, result.Model.Graph.Node.Count);
        Assert.Equal(d.Proto.Graph.Initializer.Count, result.Model.Graph.Initializer.Count);
        Assert.Equal("fold", result.Step.Apply);
        Assert.Empty(result.Notes);
        Assert.Equal(["model.layers.0.mlp.down_proj.weight"], result.FoldedTensors);

        const string w = "model.layers.0.mlp.down_proj.weight";
        var before = Weight(d.Proto, w, type);
        var after = Weight(result.Model.Proto, w, type);
        var n = TinyDecoder.Hidden;
        for (var i = 0; i < TinyDecoder.Intermediate; i++)
        {
            // Independent: one multiplication by the float32 factor, rounded once to the element type.
            var factor = i == 3 ? 1.75f : i == 9 ? 0.6f : 1f;
            for (var j = 0; j < n; j++)
                Assert.Equal(ElementEncoding.RoundTrip(before[i * n + j] * factor, type), after[i * n + j]);
        }
    }

    [Fact]
    public void Output_fold_on_Gemm_with_transB_scales_row_j_of_B_and_the_bias()
    {
        var d = new TinyDecoder(gemm: true);
        var plan = SteeringPlan.Scale(d.Sites(), [(SiteKind.MlpOut, 0, 5, 1.0)], Prov);
        var result = GraphPatcher.Apply(d.Model(), plan, new PatchOptions(Fold: true));
        const string w = "model.layers.0.mlp.down_proj.weight";
        var before = Weight(d.Proto, w, F32);
        var after = Weight(result.Model.Proto, w, F32);
        var k = TinyDecoder.Intermediate;
        // transB: B is [N, K]; output channel j is row j.
        for (var j = 0; j < TinyDecoder.Hidden; j++)
            for (var i = 0; i < k; i++)
                Assert.Equal(before[j * k + i] * (j == 5 ? 2f : 1f), after[j * k + i]);
        var biasBefore = Weight(d.Proto, w + ".bias", F32);
        var biasAfter = Weight(result.Model.Proto, w + ".bias", F32);
        Assert.Equal(biasBefore[5] * 2f, biasAfter[5]);
        Assert.Equal(biasBefore[4], biasAfter[4]);
        Assert.Equal([w, w + ".bias"], result.FoldedTensors);
    }

    [Fact]
    public void Input_fold_on_Gemm_with_transB_scales_column_i()
    {
        var d = new TinyDecoder(gemm: true);
        var plan = SteeringPlan.Scale(d.Sites(), [(SiteKind.Attn, 0, 2, -0.5)], Prov);
        var result = GraphPatcher.Apply(d.Model(), plan, new PatchOptions(Fold: true));
        const string w = "model.layers.0.attn.o_proj.weight";
        var before = Weight(d.Proto, w, F32);
        var after = Weight(result.Model.Proto, w, F32);
        var k = TinyDecoder.Hidden;
        for (var j = 0; j < TinyDecoder.Hidden; j++)
            for (var i = 0; i < k; i++)
                Assert.Equal(before[j * k + i] * (i == 2 ? 0.5f : 1f), after[j * k + i]);
        // The bias is not touched by an input fold.
        Assert.Equal(Weight(d.Proto, w + ".bias", F32), Weight(result.Model.Proto, w + ".bias", F32));
    }

    [Fact]
    public void Shared_weight_falls_back_to_Mul_and_says_why()
    {
        var d = new TinyDecoder();
        // A second reader of the down projection's weight (like tied embeddings).
        d.Proto.Graph.Node.Add(TinyDecoder.Node("/extra/Identity", "Identity", ["model.layers.0.mlp.down_proj.weight"], ["extra"]));
        var plan = SteeringPlan.Scale(d.Sites(), [(SiteKind.Mlp, 0, 3, 0.75)], Prov);
        var result = GraphPatcher.Apply(d.Model(), plan, new PatchOptions(Fold: true));
        Assert.Contains(result.Notes, n => n.Contains("mlp.0: not folded") && n.Contains("shared"));
        Assert.Contains(result.Model.Graph.Node, n => n.Name == "/model/layers.0/mlp/down_proj/steer/Mul");
        Assert.Equal("mul", result.Step.Apply);
    }

    [Theory]
    [InlineData(F32)]
    [InlineData(F16)]
    public void Mlp_and_mlp_out_of_one_down_proj_both_fold_rows_and_columns_and_unpatch_restores_it(int type)
    {
        var d = new TinyDecoder(type);
        var plan = SteeringPlan.Scale(d.Sites(), [(SiteKind.Mlp, 0, 3, 0.75), (SiteKind.MlpOut, 0, 1, 0.5)], Prov);
        var result = GraphPatcher.Apply(d.Model(), plan, new PatchOptions(Fold: true));
        Assert.Equal("fold", result.Step.Apply);
        Assert.Empty(result.Notes);
        Assert.Equal(d.Proto.Graph.Node.Count, result.Model.Graph.Node.Count);
        const string w = "model.layers.0.mlp.down_proj.weight";
        Assert.Equal([w], result.FoldedTensors);

        // Independent: row i times a_i (rounded to the element type), then column j times b_j (rounded again).
        var before = Weight(d.Proto, w, type);
        var after = Weight(result.Model.Proto, w, type);
        var n = TinyDecoder.Hidden;
        for (var i = 0; i < TinyDecoder.Intermediate; i++)
            for (var j = 0; j < n; j++)
            {
                var rowScaled = ElementEncoding.RoundTrip(before[i * n + j] * (i == 3 ? 1.75f : 1f), type);
                Assert.Equal(ElementEncoding.RoundTrip(rowScaled * (j == 1 ? 1.5f : 1f), type), after[i * n + j]);
            }
        Assert.Equal(d.Proto, GraphUnpatcher.Remove(result.Model).Proto);
    }
}
