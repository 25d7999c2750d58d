using OnnxSteer.ModelFiles;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// Structures with several projections of one kind in a layer, whose layer numbers the names give: a mixture of
/// experts (one down projection per expert) and an encoder–decoder's decoder (self- and cross-attention). Those
/// projections are refused in one line naming the layer, the op's nodes and the reason (before, they were numbered by
/// order of appearance: the second expert of layer 0 became "mlp.1"); the other kind is steered as usual.
/// </summary>
public class RefusedStructureTests
{
    [SharedFact]
    public void A_mixture_of_experts_refuses_its_experts_down_projections_and_steers_attention()
    {
        var structure = ExportStructures.Get("genai-moe");
        var report = SiteFinder.Find(OnnxModel.Load(structure.ModelFile));
        Assert.Equal(["attn.0", "attn.1"], report.Sites.Select(s => s.Id));
        Assert.Equal(["mlp-out.0", "mlp-out.0", "mlp-out.1", "mlp-out.1", "mlp.0", "mlp.0", "mlp.1", "mlp.1"],
            report.Unsupported.Select(u => u.Id).Order(StringComparer.Ordinal));
        Assert.All(report.Unsupported, u => Assert.Equal("MatMul", u.ProjectionOpType));
        Assert.All(report.Unsupported, u => Assert.Contains("has 2 MLP down projections", u.Reason));
        Assert.Contains(report.Unsupported, u => u.Reason.StartsWith("layer 1 has 2 MLP down projections ('/model/layers.1/block_sparse_moe/experts.0/w2/MatMul', '/model/layers.1/block_sparse_moe/experts.1/w2/MatMul': a mixture of experts, one down projection per expert)"));
        Assert.DoesNotContain('\n', report.Unsupported[0].Reason);
        using var tmp = new TempDir();
        ConformanceChecks.SteeringIsTheMultiplicationByHand(structure, "mul", tmp.Path);
    }

    [SharedFact]
    public void An_encoder_decoders_decoder_refuses_its_two_attention_outputs_per_layer_and_steers_the_mlp()
    {
        var report = SiteFinder.Find(OnnxModel.Load(ExportStructures.Get("encoder-decoder").ModelFile));
        Assert.Equal(["mlp-out.0", "mlp-out.1", "mlp.0", "mlp.1"], report.Sites.Select(s => s.Id).Order(StringComparer.Ordinal));
        Assert.Equal(4, report.Unsupported.Count);
        Assert.All(report.Unsupported, u => Assert.Contains("has 2 attention output projections", u.Reason));
        Assert.Contains(report.Unsupported, u => u.Reason.Contains("'/model/layers.0/attn/o_proj/MatMul', '/model/layers.0/encoder_attn/out_proj/MatMul': self- and cross-attention"));
    }
    /// <summary>
    /// The genai builder's fused experts (com.microsoft MoE; QMoE alike): no down projection is a node, so mlp and
    /// mlp-out are refused in one line naming the op and why — in the site report, and by profile when those kinds are
    /// asked for — while attn is steered, its logits the multiplication by hand (ONNX Runtime runs the MoE op).
    /// </summary>
    [SharedFact]
    public void A_fused_MoE_op_refuses_mlp_and_mlp_out_naming_the_op_and_steers_attention()
    {
        var structure = ExportStructures.Get("genai-moe-fused");
        var model = OnnxModel.Load(structure.ModelFile);
        Assert.Equal(2, model.Graph.Node.Count(n => n.OpType == "MoE" && n.Domain == "com.microsoft"));
        Assert.DoesNotContain(model.Graph.Node, n => n.Name.Contains("down_proj"));
        var report = SiteFinder.Find(model);
        Assert.Equal(["attn.0", "attn.1"], report.Sites.Select(s => s.Id));
        Assert.Equal(["mlp-out.0", "mlp-out.1", "mlp.0", "mlp.1"], report.Unsupported.Select(u => u.Id).Order(StringComparer.Ordinal));
        Assert.All(report.Unsupported, u => Assert.Equal("MoE", u.ProjectionOpType));
        Assert.Contains(report.Unsupported, u => u.Reason == "the experts' down projections are inside the fused com.microsoft MoE '/model/layers.1/moe/MoE': their inputs are never values of the graph");

        var settings = new ProfileRuns.ProfileSettings { Sites = [SiteKind.Mlp] };
        var error = Assert.Throws<InvalidModelException>(() => SiteFinder.RequireKinds(report, settings.Sites, "model.onnx"));
        Assert.Equal("model.onnx: no mlp site: mlp.0 '/model/layers.0/moe/MoE' (MoE) is not used because the experts' down projections are inside the fused " +
                     "com.microsoft MoE '/model/layers.0/moe/MoE': their inputs are never values of the graph (1 more place(s) like it); give sites attn (the kinds this model has)", error.Message);
        SiteFinder.RequireKinds(report, [SiteKind.Attn], "model.onnx");

        var qmoe = model.Proto.Clone();
        foreach (var n in qmoe.Graph.Node.Where(n => n.OpType == "MoE")) n.OpType = "QMoE";
        Assert.All(SiteFinder.Find(qmoe.Graph, "q").Unsupported, u => Assert.Contains("fused com.microsoft QMoE '/model/layers.", u.Reason));

        using var tmp = new TempDir();
        ConformanceChecks.SteeringIsTheMultiplicationByHand(structure, "mul", tmp.Path);
        ConformanceChecks.SteeringIsTheMultiplicationByHand(structure, "fold", tmp.Path);
    }
}
