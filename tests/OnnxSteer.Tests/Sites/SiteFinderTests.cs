using OnnxSteer.Sites;
using Xunit;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Sites;

/// <summary>Site detection on graphs built in code, one per export pattern.</summary>
public class SiteFinderTests
{
    private const int Float = TestGraph.Float;
    private const int Float16 = TestGraph.Float16;

    private static SiteReport Find(Onnx.ModelProto model) => SiteFinder.Find(model.Graph, "test.onnx");

    private static void AssertSites(SiteReport report, int layers, int attnWidth, int mlpWidth, int outWidth, int elementType)
    {
        Assert.Equal(3 * layers, report.Sites.Count);
        var expectedIds = new[] { "attn", "mlp", "mlp-out" }.SelectMany(k => Enumerable.Range(0, layers).Select(l => $"{k}.{l}"));
        Assert.Equal(expectedIds, report.Sites.Select(s => s.Id));
        Assert.All(report.OfKind(SiteKind.Attn), s => Assert.Equal(attnWidth, s.Width));
        Assert.All(report.OfKind(SiteKind.Mlp), s => Assert.Equal(mlpWidth, s.Width));
        Assert.All(report.OfKind(SiteKind.MlpOut), s => Assert.Equal(outWidth, s.Width));
        Assert.All(report.Sites, s => Assert.Equal(elementType, s.ElementType));
    }

    [Fact]
    public void DecomposedAttentionAndGatedSiluMlp()
    {
        var model = SiteGraphs.DecomposedLlama(layers: 3, hidden: 24, heads: 4, intermediate: 40);
        var report = Find(model);

        AssertSites(report, layers: 3, attnWidth: 24, mlpWidth: 40, outWidth: 24, Float);
        Assert.Empty(report.Warnings);
        var attn = report.Find(SiteKind.Attn, 2)!;
        Assert.Equal("/model/layers.2/self_attn/o_proj/MatMul", attn.ProjectionNode);
        Assert.Equal("MatMul", attn.ProjectionOpType);
        Assert.Equal("/model/layers.2/self_attn/Reshape_out/output_0", attn.ValueName); // the reshaped softmax(QK^T)V
        Assert.Contains("softmax(QK^T)V", attn.Evidence);
        var mlp = report.Find(SiteKind.Mlp, 1)!;
        Assert.Equal("/model/layers.1/mlp/down_proj/MatMul", mlp.ProjectionNode);
        Assert.Equal("/model/layers.1/mlp/Mul/output_0", mlp.ValueName);
        Assert.Contains("act(gate)*up", mlp.Evidence);
        Assert.Equal("/model/layers.1/mlp/down_proj/MatMul/output_0", report.Find(SiteKind.MlpOut, 1)!.ValueName);
        // The lm_head (fed by the final norm) and q/k/v/gate/up are not sites.
        Assert.DoesNotContain(report.Sites, s => s.ProjectionNode.Contains("lm_head") || s.ProjectionNode.Contains("up_proj"));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void Gpt2UngatedMlpWithGemmOrBiasedMatMul(bool gemm, bool tanhGelu)
    {
        var model = SiteGraphs.Gpt2(layers: 2, hidden: 32, heads: 4, gemm, tanhGelu);
        var report = Find(model);

        AssertSites(report, layers: 2, attnWidth: 32, mlpWidth: 128, outWidth: 32, Float);
        Assert.Empty(report.Warnings);
        var op = gemm ? "Gemm" : "MatMul";
        var attn = report.Find(SiteKind.Attn, 1)!;
        Assert.Equal($"/transformer/h.1/attn/c_proj/{op}", attn.ProjectionNode);
        Assert.Equal(op, attn.ProjectionOpType);
        Assert.Equal("/transformer/h.1/attn/c_proj/Flatten/output_0", attn.ValueName);
        var mlp = report.Find(SiteKind.Mlp, 0)!;
        Assert.Equal($"/transformer/h.0/mlp/c_proj/{op}", mlp.ProjectionNode);
        Assert.Contains("act(fc1)", mlp.Evidence);
        var mlpOut = report.Find(SiteKind.MlpOut, 0)!;
        if (gemm)
        {
            // Gemm adds its bias itself: the site is its output.
            Assert.Equal("/transformer/h.0/mlp/c_proj/Gemm/output_0", mlpOut.ValueName);
            Assert.Null(mlpOut.BiasAddNode);
        }
        else
        {
            // MatMul + bias Add: the site is the biased output, as the residual add consumes it.
            Assert.Equal("/transformer/h.0/mlp/c_proj/Add/output_0", mlpOut.ValueName);
            Assert.Equal("/transformer/h.0/mlp/c_proj/Add", mlpOut.BiasAddNode);
        }
    }

    [Fact]
    public void MatMulNBitsProjectionsAroundGroupQueryAttention()
    {
        var model = SiteGraphs.MatMulNBitsDecoder(layers: 2, hidden: 64, intermediate: 96);
        var report = Find(model);

        AssertSites(report, layers: 2, attnWidth: 64, mlpWidth: 96, outWidth: 64, Float16);
        Assert.Empty(report.Warnings);
        Assert.All(report.Sites, s => Assert.Equal("MatMulNBits", s.ProjectionOpType));
        Assert.Equal("/model/layers.0/attn/GroupQueryAttention/output_0", report.Find(SiteKind.Attn, 0)!.ValueName);
        Assert.Contains("com.microsoft.GroupQueryAttention", report.Find(SiteKind.Attn, 0)!.Evidence);
        // Layer 1 uses the fused QuickGelu activation, layer 0 Sigmoid*x: both are gated MLPs.
        Assert.Equal("/model/layers.1/mlp/down_proj/MatMulNBits", report.Find(SiteKind.Mlp, 1)!.ProjectionNode);
        Assert.Equal("/model/layers.1/mlp/Mul/output_0", report.Find(SiteKind.Mlp, 1)!.ValueName);
    }

    [Fact]
    public void NamesThatDisagreeWithStructureAreReportedAndStructureWins()
    {
        // Layer 1's o_proj and down_proj swap names; layer 0 is named normally.
        var model = SiteGraphs.DecomposedLlama(layers: 2, hidden: 16, heads: 2, intermediate: 48,
            rename: (layer, part) => layer != 1 ? $"/model/layers.{layer}/{part}" : part switch
            {
                "self_attn/o_proj/MatMul" => "/model/layers.1/mlp/down_proj/MatMul",
                "mlp/down_proj/MatMul" => "/model/layers.1/self_attn/o_proj/MatMul",
                _ => $"/model/layers.1/{part}",
            });
        var report = Find(model);

        AssertSites(report, layers: 2, attnWidth: 16, mlpWidth: 48, outWidth: 16, Float);
        Assert.Equal("/model/layers.1/mlp/down_proj/MatMul", report.Find(SiteKind.Attn, 1)!.ProjectionNode);
        Assert.Equal("/model/layers.1/self_attn/o_proj/MatMul", report.Find(SiteKind.Mlp, 1)!.ProjectionNode);
        Assert.Equal(2, report.Warnings.Count);
        Assert.Contains(report.Warnings, w => w.ToString().Contains("'/model/layers.1/mlp/down_proj/MatMul'") && w.ToString().Contains("structure says attn"));
        Assert.Contains(report.Warnings, w => w.ToString().Contains("'/model/layers.1/self_attn/o_proj/MatMul'") && w.ToString().Contains("structure says mlp"));
    }

    [Fact]
    public void MisleadingNamesWithoutStructureGiveNoSiteAndAnExplanation()
    {
        var model = SiteGraphs.MisleadinglyNamed();

        Assert.Empty(SiteFinder.Scan(model.Graph).Sites);
        var error = Assert.Throws<NoSitesFoundException>(() => SiteFinder.Find(model.Graph, "misleading.onnx"));
        Assert.Equal(ExitCodes.InvalidInput, ErrorReporter.ExitCode(error));
        Assert.StartsWith("misleading.onnx: no steering site found: looked for attention output projections", error.Message);
        Assert.Contains("'/model/layers.0/self_attn/o_proj/MatMul' (MatMul) is named like an attention output projection", error.Message);
        Assert.Contains("'/model/layers.0/mlp/down_proj/MatMul' (MatMul) is named like an MLP down projection", error.Message);
    }

    [Fact]
    public void UnnamedGraphIsNumberedByOrderOfAppearance()
    {
        var model = SiteGraphs.DecomposedLlama(layers: 4, hidden: 8, heads: 2, intermediate: 20, named: false);
        Assert.All(model.Graph.Node, n => Assert.Equal("", n.Name));
        var report = Find(model);

        AssertSites(report, layers: 4, attnWidth: 8, mlpWidth: 20, outWidth: 8, Float);
        Assert.Empty(report.Warnings);
        // Layer numbers follow graph order: each layer's sites come after the previous layer's.
        var order = model.Graph.Node.Select((n, i) => (n.Output[0], i)).ToDictionary(p => p.Item1, p => p.i);
        foreach (var kind in new[] { SiteKind.Mlp, SiteKind.MlpOut })
        {
            var positions = report.OfKind(kind).Select(s => order[s.ValueName]).ToList();
            Assert.Equal(positions.Order(), positions);
        }
        var attnPositions = report.OfKind(SiteKind.Attn).Select(s => order[s.ValueName]).ToList();
        Assert.Equal(attnPositions.Order(), attnPositions);
    }

    [Fact]
    public void PartialLayerNamesFallBackToOrderWithAWarning()
    {
        // Only layer 0's nodes say which layer they are in; weights have generic names.
        var model = SiteGraphs.DecomposedLlama(layers: 3, hidden: 8, heads: 2, intermediate: 12, namedWeights: false,
            rename: (layer, part) => layer == 0 ? $"/model/layers.0/{part}" : $"/model/block_x/{part}_{layer}");
        var report = Find(model);

        AssertSites(report, layers: 3, attnWidth: 8, mlpWidth: 12, outWidth: 8, Float);
        Assert.Equal("/model/block_x/self_attn/o_proj/MatMul_2", report.Find(SiteKind.Attn, 2)!.ProjectionNode);
        Assert.Contains(report.Warnings, w => w.ToString().Contains("names give layer numbers for 1 of 3 attn projections"));
        Assert.Contains(report.Warnings, w => w.ToString().Contains("names give layer numbers for 1 of 3 mlp projections"));
    }

    [Theory]
    [InlineData("/model/layers.12/mlp/down_proj/MatMul", 12)]
    [InlineData("model.layers.3.self_attn.o_proj.weight", 3)]
    [InlineData("/transformer/h.7/attn/c_proj/Gemm", 7)]
    [InlineData("blocks.5.ffn.w2", 5)]
    [InlineData("/model/layernorm_2/Mul", null)]
    [InlineData("", null)]
    public void LayerNumbersFromNames(string name, int? layer) => Assert.Equal(layer, LayerNames.LayerOf(name));
}
