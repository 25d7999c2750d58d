using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Recording;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Patching;
using OnnxSteer.Tests.Sites;
using Xunit;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// onnxruntime's transformer optimizer output (<see cref="OrtOptimizedGpt2"/>: fused Attention, SkipLayerNormalization,
/// FastGelu): attn sites read the fused Attention, mlp sites the FastGelu; mlp-out is refused in one line naming
/// SkipLayerNormalization (the bias is added inside it); recording equals a plain run exposing each value; a Mul patch
/// computes exactly what the same multiplication inserted by hand computes, a fold agrees with it, unpatch restores it.
/// </summary>
public class OrtOptimizedGpt2Tests
{
    private const int Layers = 2;
    private static readonly long[] Ids = [3, 17, 42, 5, 9, 60, 11];

    private static Dictionary<string, float[]> Run(ModelProto model, IReadOnlyList<string> wanted)
    {
        using var ids = OrtValue.CreateTensorValueFromMemory(Ids.ToArray(), [1, Ids.Length]);
        return OrtHarness.Run(model, null, new Dictionary<string, OrtValue> { ["input_ids"] = ids }, wanted, TestGraph.Float);
    }

    private static string Output(ModelProto model) => model.Graph.Output[0].Name;

    [Fact]
    public void Fused_attention_and_FastGelu_give_sites_and_mlp_out_is_refused_naming_SkipLayerNormalization()
    {
        var report = SiteFinder.Find(OrtOptimizedGpt2.Build(Layers).Graph, "gpt2_opt.onnx");
        Assert.Equal(["attn.0", "attn.1", "mlp.0", "mlp.1"], report.Sites.Select(s => s.Id));
        Assert.All(report.OfKind(SiteKind.Attn), s => Assert.Contains("com.microsoft.Attention", s.Evidence));
        Assert.All(report.OfKind(SiteKind.Mlp), s => Assert.Equal(4 * OrtOptimizedGpt2.Hidden, s.Width));
        Assert.Equal(["mlp-out.0", "mlp-out.1"], report.Unsupported.Select(u => u.Id));
        Assert.All(report.Unsupported, u => Assert.Contains("its bias is added inside com.microsoft.SkipLayerNormalization", u.Reason));
    }

    [Fact]
    public void Recording_and_patching_agree_with_onnx_runtime_and_the_multiplication_by_hand()
    {
        var proto = OrtOptimizedGpt2.Build(Layers);
        var model = new OnnxModel(proto);
        var sites = SiteFinder.Find(model).Sites;

        using (var recorder = new ActivationRecorder(model, sites))
        {
            var recorded = recorder.Record([Ids.Select(i => (int)i).ToArray()]);
            var values = Run(proto, sites.Select(s => s.ValueName).ToList());
            for (var s = 0; s < sites.Count; s++) Assert.Equal(values[sites[s].ValueName][^sites[s].Width..], recorded[0][s]);
        }

        var plan = SteeringPlan.Scale(sites, sites.SelectMany(s => new[] { (s.Kind, s.Layer, 1, 1.5), (s.Kind, s.Layer, 6, -0.75) }),
            new SteeringProvenance("austeer", 2, 1, null));
        var mul = GraphPatcher.Apply(model, plan, PatchOptions.Default).Model;
        var fold = GraphPatcher.Apply(model, plan, new PatchOptions(Fold: true));
        Assert.Equal("fold", fold.Step.Apply);

        // By hand: each site's value times its vector, spliced in front of the projection that reads it.
        var hand = proto.Clone();
        foreach (var (s, i) in plan.Sites.Select((s, i) => (s, i)))
        {
            var v = new TensorProto { Name = $"hand{i}", DataType = TestGraph.Float, RawData = ByteString.CopyFrom(ElementEncoding.Encode(s.Vector, TestGraph.Float)) };
            v.Dims.Add(s.Vector.Length);
            hand.Graph.Initializer.Add(v);
            var reader = hand.Graph.Node.Single(n => n.Name == s.Site.ProjectionNode);
            reader.Input[0] = $"hand{i}/out";
            hand.Graph.Node.Insert(hand.Graph.Node.IndexOf(reader), new NodeProto { OpType = "Mul", Name = $"hand{i}", Input = { s.Site.ValueName, v.Name }, Output = { $"hand{i}/out" } });
        }
        var expected = Run(hand, [Output(hand)])[Output(hand)];
        var vanilla = Run(proto, [Output(proto)])[Output(proto)];
        Assert.NotEqual(vanilla, expected);
        Assert.Equal(expected, Run(mul.Proto, [Output(proto)])[Output(proto)]);
        var folded = Run(fold.Model.Proto, [Output(proto)])[Output(proto)];
        Assert.True(expected.Zip(folded, (a, b) => Math.Abs(a - b)).Max() <= 1e-4, "fold vs Mul");
        Assert.Equal(proto, GraphUnpatcher.Remove(mul).Proto);
        Assert.Equal(proto, GraphUnpatcher.Remove(fold.Model).Proto);
    }
}
