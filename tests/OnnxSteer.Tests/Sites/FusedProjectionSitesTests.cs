using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Patching;
using Xunit;
using static OnnxSteer.Tests.Sites.Phi3Graphs;

namespace OnnxSteer.Tests.Sites;

/// <summary>
/// Phi-3-style fused qkv and gate_up projections: the finder recognises the sites, and patching the found site
/// multiplies exactly the intended activation, checked through ONNX Runtime against a computation in C#.
/// </summary>
public class FusedProjectionSitesTests
{
    private const int Tokens = 5;
    private static readonly SteeringProvenance Prov = new("austeer", 4, 1, null);

    [Theory]
    [InlineData(FusedCut.Split)]
    [InlineData(FusedCut.Slices)]
    public void Fused_qkv_and_gate_up_give_every_site_of_every_layer(FusedCut cut)
    {
        var model = Fp32Decoder(layers: 2, [cut]);
        var report = SiteFinder.Find(model.Graph, "phi3.onnx");

        Assert.Empty(report.Warnings);
        Assert.Empty(report.Unsupported);
        Assert.Equal(["attn.0", "attn.1", "mlp.0", "mlp.1", "mlp-out.0", "mlp-out.1"], report.Sites.Select(s => s.Id));
        for (var l = 0; l < 2; l++)
        {
            var attn = report.Find(SiteKind.Attn, l)!;
            Assert.Equal($"/model/layers.{l}/attn/o_proj/MatMul", attn.ProjectionNode);
            Assert.Equal(Hidden, attn.Width);
            Assert.Equal($"/model/layers.{l}/attn/Reshape_out/output_0", attn.ValueName);
            var mlp = report.Find(SiteKind.Mlp, l)!;
            Assert.Equal($"/model/layers.{l}/mlp/down_proj/MatMul", mlp.ProjectionNode);
            Assert.Equal(Intermediate, mlp.Width);
            Assert.Equal($"/model/layers.{l}/mlp/Mul/output_0", mlp.ValueName);
            Assert.Contains($"fused gate_up = MatMul '/model/layers.{l}/mlp/gate_up_proj/MatMul'", mlp.Evidence);
            Assert.Equal(Hidden, report.Find(SiteKind.MlpOut, l)!.Width);
        }
    }

    [Fact]
    public void A_cut_along_the_sequence_axis_is_not_a_gate_up_split()
    {
        // Same graph, but layer 0's gate/up Slices cut axis 1 (tokens): act(a)*b of two token ranges is no gated MLP.
        var model = Fp32Decoder(layers: 1, [FusedCut.Slices]);
        foreach (var slice in model.Graph.Node.Where(n => n.OpType == "Slice" && n.Name.Contains("/mlp/")).ToList())
        {
            var axesName = slice.Input[3];
            var axes = new Onnx.NodeProto { OpType = "Constant", Name = axesName + "_axis1" };
            axes.Output.Add(axesName + "_axis1");
            axes.Attribute.Add(OnnxSteer.Import.GraphBuilder.Attr("value", OnnxSteer.Import.GraphBuilder.Tensor(
                TensorProto.Types.DataType.Int64, [1], BitConverter.GetBytes(1L))));
            model.Graph.Node.Insert(0, axes);
            slice.Input[3] = axes.Output[0];
        }
        var report = SiteFinder.Scan(model.Graph);
        Assert.Null(report.Find(SiteKind.Mlp, 0));
        Assert.NotNull(report.Find(SiteKind.Attn, 0));
        Assert.Contains(report.Warnings, w => w.ToString().Contains("'/model/layers.0/mlp/down_proj/MatMul' (MatMul) is named like an MLP down projection"));
    }

    /// <summary>
    /// The decisive check that the gate and up halves are not confused: steer mlp.1 (the last layer), then recompute the
    /// logits in C# from the unpatched model's values: logits = (r + (m ⊙ v) · W_down) · W_lm, where r is the residual
    /// entering the last MLP add and m the down_proj input. Swapping halves, or steering any other value, would not match.
    /// </summary>
    [Theory]
    [InlineData(FusedCut.Split, false)]
    [InlineData(FusedCut.Slices, false)]
    [InlineData(FusedCut.Split, true)]
    [InlineData(FusedCut.Slices, true)]
    public void Steering_the_found_mlp_site_scales_exactly_the_down_proj_input(FusedCut cut, bool fold)
    {
        var model = Fp32Decoder(layers: 2, [cut]);
        var sites = SiteFinder.Find(model.Graph, "phi3.onnx").Sites;
        var site = sites.Single(s => s.Id == "mlp.1");
        var plan = SteeringPlan.Scale(sites, [(SiteKind.Mlp, 1, 0, 2.0), (SiteKind.Mlp, 1, 7, -0.6), (SiteKind.Mlp, 1, 23, 0.35)], Prov);
        var result = GraphPatcher.Apply(new OnnxModel(model), plan, new PatchOptions(Fold: fold));
        Assert.Equal(fold ? "fold" : "mul", result.Step.Apply);

        const string residual = "/model/layers.1/residual_attn/Add/output_0";
        var before = Run(model, Tokens, seed: 9, "logits", site.ValueName, residual);
        var after = Run(result.Model.Proto, Tokens, seed: 9, "logits")["logits"];

        var v = plan.Sites.Single().Vector;
        var m = before[site.ValueName];
        var steered = m.Select((value, i) => value * v[i % Intermediate]).ToArray();
        var down = MatMul(steered, Values(model, "model.layers.1.mlp.down_proj.weight"), Intermediate, Hidden);
        var x = before[residual].Zip(down, (a, b) => a + b).ToArray();
        var expected = MatMul(x, Values(model, "lm_head.weight"), Hidden, Vocab);

        // Tolerance: the C# products sum in a different order than ONNX Runtime's GEMM; 1e-5 of the largest logit.
        var diff = OrtHarness.MaxRelativeDifference(expected, after);
        Assert.True(diff <= 1e-5, $"logits differ from the C# recomputation by {diff:E2} (relative)");
        // And the steering did something measurable: unsteered logits are far from these.
        Assert.True(OrtHarness.MaxRelativeDifference(before["logits"], after) > 1e-3);
    }

    /// <summary>With a Mul inserted, the projection's new input is the found value times v, bitwise, for every site.</summary>
    [Fact]
    public void Every_found_input_site_gets_exactly_its_vector()
    {
        var model = Fp32Decoder(layers: 2, [FusedCut.Split, FusedCut.Slices]);
        var sites = SiteFinder.Find(model.Graph, "phi3.onnx").Sites;
        var units = sites.Where(s => s.Kind != SiteKind.MlpOut)
            .SelectMany(s => new[] { (s.Kind, s.Layer, 1, 0.5), (s.Kind, s.Layer, s.Width - 2, -0.25) }).ToList();
        var plan = SteeringPlan.Scale(sites, units, Prov);
        var result = GraphPatcher.Apply(new OnnxModel(model), plan, PatchOptions.Default);
        var edits = result.Step.Edits.ToDictionary(e => e.Site);
        var wanted = plan.Sites.SelectMany(s => new[] { s.Site.ValueName, edits[s.Site.Id].Output! }).ToArray();
        var values = Run(result.Model.Proto, Tokens, seed: 4, wanted);
        foreach (var s in plan.Sites)
        {
            // The Mul feeds the projection the site names (o_proj or down_proj), not the qkv or gate_up projection.
            var projection = result.Model.Proto.Graph.Node.Single(n => n.Name == s.Site.ProjectionNode);
            Assert.Equal(edits[s.Site.Id].Output, projection.Input[0]);
            var x = values[s.Site.ValueName];
            var y = values[edits[s.Site.Id].Output!];
            var expected = x.Select((value, i) => value * s.Vector[i % s.Site.Width]).ToArray();
            // Tolerance 0: ONNX Runtime's Mul and C#'s float multiply round the same product the same way.
            Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), y.Select(BitConverter.SingleToInt32Bits));
        }
    }

    private static float[] MatMul(float[] x, float[] w, int k, int n)
    {
        var rows = x.Length / k;
        var y = new float[rows * n];
        for (var r = 0; r < rows; r++)
            for (var j = 0; j < n; j++)
            {
                double sum = 0;
                for (var i = 0; i < k; i++) sum += (double)x[r * k + i] * w[i * n + j];
                y[r * n + j] = (float)sum;
            }
        return y;
    }
}
