using OnnxSteer.Cli;
using Onnx;
using OnnxSteer.Patching;
using OnnxSteer.Sites;
using Xunit;

namespace OnnxSteer.Tests.Patching;

public class GraphPatcherTests
{
    private static readonly SteeringProvenance Prov = new("austeer", 3, 5.0, "ab12");
    private const int F32 = (int)TensorProto.Types.DataType.Float;
    private const int F16 = (int)TensorProto.Types.DataType.Float16;
    private const int BF16 = (int)TensorProto.Types.DataType.Bfloat16;

    private static SteeringPlan Plan(TinyDecoder d, params (SiteKind, int, int, double)[] units) =>
        SteeringPlan.Scale(d.Sites(), units, Prov);

    [Fact]
    public void InputEdge_Mul_rewires_only_the_projection()
    {
        var d = new TinyDecoder();
        var result = GraphPatcher.Apply(d.Model(), Plan(d, (SiteKind.Attn, 0, 2, 0.5), (SiteKind.Attn, 0, 5, -0.25)), PatchOptions.Default);
        var g = result.Model.Graph;

        var mul = g.Node.Single(n => n.Name == "/model/layers.0/attn/o_proj/steer/Mul");
        Assert.Equal("Mul", mul.OpType);
        Assert.Equal(["x", "/model/layers.0/attn/o_proj/steer.scale"], mul.Input);
        Assert.Equal(["/model/layers.0/attn/o_proj/steer/Mul/output_0"], mul.Output);
        Assert.Equal("/model/layers.0/attn/o_proj/steer/Mul/output_0", g.Node.Single(n => n.Name == TinyDecoder.OProj).Input[0]);
        // The residual Add still reads the unsteered x.
        Assert.Equal("x", g.Node.Single(n => n.Name == "/model/layers.0/residual/Add").Input[0]);
        // The Mul comes before its reader (topological order kept).
        Assert.True(g.Node.IndexOf(mul) < g.Node.IndexOf(g.Node.Single(n => n.Name == TinyDecoder.OProj)));
        Assert.Equal(d.Proto.Graph.Node.Count + 1, g.Node.Count);

        var scale = g.Initializer.Single(i => i.Name == "/model/layers.0/attn/o_proj/steer.scale");
        Assert.Equal([TinyDecoder.Hidden], scale.Dims);
        Assert.Equal(F32, scale.DataType);
        var v = ElementEncoding.Decode(scale.RawData.Span, F32);
        var expected = Enumerable.Repeat(1f, TinyDecoder.Hidden).ToArray();
        expected[2] = 1.5f;
        expected[5] = 0.75f;
        Assert.Equal(expected, v);
        // The input model was not touched.
        Assert.DoesNotContain(d.Proto.Graph.Node, n => n.Name.Contains("steer"));
    }

    [Fact]
    public void OutputEdge_Mul_keeps_the_value_name_for_every_reader_including_graph_outputs()
    {
        var d = new TinyDecoder(mlpOutIsGraphOutput: true);
        var result = GraphPatcher.Apply(d.Model(), Plan(d, (SiteKind.MlpOut, 0, 1, 2.0)), PatchOptions.Default);
        var g = result.Model.Graph;
        var down = g.Node.Single(n => n.Name == TinyDecoder.DownProj);
        var mul = g.Node.Single(n => n.Name == "/model/layers.0/mlp/down_proj/steer/Mul");
        Assert.Equal(down.Output[0], mul.Input[0]);
        Assert.NotEqual(TinyDecoder.MlpOutValue, down.Output[0]);
        Assert.Equal([TinyDecoder.MlpOutValue], mul.Output);
        Assert.Contains(g.Output, o => o.Name == TinyDecoder.MlpOutValue);
        Assert.Equal(g.Node.IndexOf(down) + 1, g.Node.IndexOf(mul));
        Assert.Equal(EditKind.OutputEdge, result.Step.Edits.Single().Kind);
    }

    [Theory]
    [InlineData(F16)]
    [InlineData(BF16)]
    public void Scale_vector_is_written_in_the_site_element_type(int type)
    {
        var d = new TinyDecoder(type);
        var result = GraphPatcher.Apply(d.Model(), Plan(d, (SiteKind.Mlp, 0, 11, 0.3)), PatchOptions.Default);
        var scale = result.Model.Graph.Initializer.Single(i => i.Name.EndsWith("steer.scale"));
        Assert.Equal(type, scale.DataType);
        var v = ElementEncoding.Decode(scale.RawData.Span, type);
        Assert.Equal(ElementEncoding.RoundTrip(1.3f, type), v[11]);
        Assert.All(v.Take(11), x => Assert.Equal(1f, x));
    }

    [Fact]
    public void Additive_plan_inserts_Add_with_bias_constant()
    {
        var d = new TinyDecoder();
        var c = Enumerable.Range(0, TinyDecoder.Hidden).Select(i => i * 0.1f).ToArray();
        var plan = SteeringPlan.Add(d.Sites(), [(SiteKind.MlpOut, 0, c)], new SteeringProvenance("caa", null, 2, null));
        var result = GraphPatcher.Apply(d.Model(), plan, new PatchOptions(Fold: true));
        var add = result.Model.Graph.Node.Single(n => n.Name == "/model/layers.0/mlp/down_proj/steer/Add");
        Assert.Equal("Add", add.OpType);
        Assert.Equal("/model/layers.0/mlp/down_proj/steer.bias", add.Input[1]);
        Assert.Contains(result.Notes, n => n.Contains("cannot be folded"));
        Assert.Equal("add", result.Step.Apply);
    }

    [Fact]
    public void Metadata_records_what_was_done()
    {
        var d = new TinyDecoder();
        var result = GraphPatcher.Apply(d.Model(), Plan(d, (SiteKind.Attn, 0, 2, 0.5), (SiteKind.Mlp, 0, 3, 1.0)), PatchOptions.Default);
        var meta = result.Model.Proto.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal("test", meta["source"]);
        Assert.StartsWith("onnxsteer ", meta[SteeringMetadata.VersionKey]);
        Assert.Equal("ab12", meta[SteeringMetadata.ProfileKey]);
        Assert.Equal("austeer", meta[SteeringMetadata.MethodKey]);
        Assert.Equal("3", meta[SteeringMetadata.KKey]);
        Assert.Equal("5", meta[SteeringMetadata.AlphaKey]);
        Assert.Equal("attn.0,mlp.0", meta[SteeringMetadata.SitesKey]);
        Assert.Equal("mul", meta[SteeringMetadata.ApplyKey]);
        var steps = SteeringMetadata.Read(result.Model.Proto);
        Assert.Single(steps);
        Assert.Equal(2, steps[0].Edits.Count);
        Assert.Equal("/model/layers.0/mlp/down_proj/steer/Mul", steps[0].Edits[1].Node);
    }

    [Fact]
    public void Already_steered_model_is_refused_by_the_planner_unless_stack()
    {
        var d = new TinyDecoder();
        var once = GraphPatcher.Apply(d.Model(), Plan(d, (SiteKind.Mlp, 0, 3, 1.0)), PatchOptions.Default).Model;
        var profile = new InMemoryProfile(TestProfiles.Make(d.Model(), d.Sites(), k: 1, alpha: 1, kinds: [SiteKind.Mlp]));
        var e = Assert.Throws<InvalidInputException>(() => SteeringPlanner.Plan(new SteeringTarget(once, d.Sites()), profile, PatchRequest.Default));
        Assert.Contains("already steered", e.Message);
        Assert.Equal(["replace", "stack"], e.Text.Parameters);
        Assert.Contains("use --replace to remove that steering first, or --stack to add to it", ErrorReporter.Message(e));
        var stack = new PatchRequest(existing: ExistingSteering.Stack);
        Assert.Same(once, SteeringPlanner.Plan(new SteeringTarget(once, d.Sites()), profile, stack).Graph);

        // Stacking on the same site: the new node gets a fresh name and reads the earlier Mul's output.
        var stackedSite = d.Sites()[1] with { ValueName = "/model/layers.0/mlp/down_proj/steer/Mul/output_0" };
        var plan2 = SteeringPlan.Scale([stackedSite], [(SiteKind.Mlp, 0, 4, 1.0)], Prov);
        var twice = GraphPatcher.Apply(once, plan2, PatchOptions.Default).Model;
        Assert.Contains(twice.Graph.Node, n => n.Name == "/model/layers.0/mlp/down_proj/steer_2/Mul");
        Assert.Equal(2, SteeringMetadata.Read(twice.Proto).Count);
        Assert.Equal("2", twice.Proto.MetadataProps.Single(p => p.Key == SteeringMetadata.StepCountKey).Value);
        // Unpatching both steps restores the original exactly.
        Assert.Equal(d.Proto, GraphUnpatcher.Remove(twice).Proto);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Patch_then_unpatch_restores_the_original_proto(bool gemm, bool fold)
    {
        var d = new TinyDecoder(gemm: gemm, mlpOutIsGraphOutput: true);
        var plan = Plan(d, (SiteKind.Attn, 0, 1, 0.5), (SiteKind.Mlp, 0, 7, -0.5), (SiteKind.MlpOut, 0, 0, 3.0));
        var patched = GraphPatcher.Apply(d.Model(), plan, new PatchOptions(Fold: fold));
        Assert.NotEqual(d.Proto, patched.Model.Proto);
        var restored = GraphUnpatcher.Remove(patched.Model);
        Assert.Equal(d.Proto, restored.Proto);
    }

    [Fact]
    public void Unpatch_refuses_an_unsteered_model()
    {
        var e = Assert.Throws<InvalidModelException>(() => GraphUnpatcher.Remove(new TinyDecoder().Model()));
        Assert.Contains("no onnxsteer steering record", e.Message);
    }

    [Fact]
    public void Unpatch_refuses_a_graph_changed_after_patching()
    {
        var d = new TinyDecoder();
        var patched = GraphPatcher.Apply(d.Model(), Plan(d, (SiteKind.Mlp, 0, 3, 1.0)), PatchOptions.Default).Model;
        patched.Graph.Node.Remove(patched.Graph.Node.Single(n => n.Name.EndsWith("steer/Mul")));
        var e = Assert.Throws<InvalidModelException>(() => GraphUnpatcher.Remove(patched));
        Assert.Contains("mlp.0", e.Message);
    }

    [Fact]
    public void Plan_that_does_not_match_the_graph_is_refused()
    {
        var d = new TinyDecoder();
        var wrong = d.Sites()[1] with { ValueName = "nope" };
        var plan = SteeringPlan.Scale([wrong], [(SiteKind.Mlp, 0, 1, 1.0)], Prov);
        var e = Assert.Throws<InvalidModelException>(() => GraphPatcher.Apply(d.Model(), plan, PatchOptions.Default));
        Assert.Contains("does not read 'nope'", e.Message);
    }
}
