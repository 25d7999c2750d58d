using Google.Protobuf;
using Onnx;
using OnnxSteer.Generation;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Recording;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// transformers.js q8 (<c>onnx/model_quantized.onnx</c>: onnxruntime dynamic int8, <see cref="DynamicInt8"/>) of
/// stories260K: the float model's sites are found through DynamicQuantizeLinear + MatMulInteger; recording equals a
/// plain run exposing each value; a patch puts its Mul on the float value before DynamicQuantizeLinear (attn, mlp) or
/// after the rescaling Mul (mlp-out) and computes exactly what that multiplication inserted by hand computes; fold is
/// refused with the reason and falls back to the Mul; switchable at 0 is the vanilla model; unpatch restores the file.
/// </summary>
public sealed class TransformersJsInt8Tests : IDisposable
{
    private readonly TempDir _tmp = new();
    private readonly string _q8 = "";

    public TransformersJsInt8Tests()
    {
        if (!SharedData.Available) return;
        var source = ImportedModels.Get("standard", "fp32");
        Directory.CreateDirectory(_tmp["onnx"]);
        File.Copy(Path.Combine(source, "tokenizer.json"), _tmp["tokenizer.json"]);
        _q8 = Path.Combine(_tmp["onnx"], "model_quantized.onnx");
        File.WriteAllBytes(_q8, DynamicInt8.Quantize(OnnxModel.Load(Path.Combine(source, "model.onnx"))).ToByteArray());
    }

    public void Dispose() => _tmp.Dispose();

    private static readonly string FloatModel = "model.onnx";

    [SharedFact]
    public void Sites_are_the_float_models_read_through_DynamicQuantizeLinear_and_MatMulInteger()
    {
        var plain = SiteFinder.Find(OnnxModel.Load(Path.Combine(ImportedModels.Get("standard", "fp32"), FloatModel))).Sites;
        var q8 = SiteFinder.Find(OnnxModel.Load(_q8)).Sites;
        Assert.Equal(plain.Select(s => (s.Id, s.Width, s.ElementType)), q8.Select(s => (s.Id, s.Width, s.ElementType)));
        Assert.All(q8, s => Assert.Equal("MatMulInteger", s.ProjectionOpType));
        Assert.All(q8.Where(s => s.Kind != SiteKind.MlpOut), s => Assert.EndsWith("_QuantizeLinear", s.EdgeNode));
        Assert.All(q8.Where(s => s.Kind == SiteKind.MlpOut), s => Assert.EndsWith("_output_scale_mul", s.EdgeNode));
        // attn and mlp steer the same float values as in the float model.
        Assert.Equal(plain.Where(s => s.Kind != SiteKind.MlpOut).Select(s => s.ValueName), q8.Where(s => s.Kind != SiteKind.MlpOut).Select(s => s.ValueName));
    }

    [SharedFact]
    public void Recording_equals_a_plain_run_that_exposes_each_value()
    {
        var model = OnnxModel.Load(_q8);
        var sites = SiteFinder.Find(model).Sites;
        using var recorder = new ActivationRecorder(model, sites);
        var recorded = recorder.Record([Runs.Prompt]);
        using var decoder = DecoderModel.Open(_q8);
        using var inputs = decoder.CreateInputs(Runs.Prompt);
        var values = OrtHarness.Run(model.Proto, null, inputs.ToDictionary(), sites.Select(s => s.ValueName).ToList(), (int)TensorProto.Types.DataType.Float);
        for (var s = 0; s < sites.Count; s++) Assert.Equal(values[sites[s].ValueName][^sites[s].Width..], recorded[0][s]);
    }

    public static TheoryData<string> Modes() => new(ConformanceChecks.Modes);

    [SharedTheory]
    [MemberData(nameof(Modes))]
    public void Steering_is_the_multiplication_applied_by_hand_on_the_float_values(string mode)
    {
        var model = OnnxModel.Load(_q8);
        var profile = TestProfiles.Make(model, SiteFinder.Find(model).Sites, k: 12, alpha: 2);
        if (mode == "dynamic") profile = TestProfiles.WithSeededProbes(profile);
        var profilePath = TestProfiles.Save(profile, _tmp.Path, mode + ".json");
        var options = ConformanceChecks.Options(mode);
        var notes = new List<string>();
        var outcome = Steerer.Patch(_q8, profilePath, _tmp[mode], options with { Notice = n => notes.Add(n.ToString()) });
        var steered = outcome.Written.ModelFile;
        var vanilla = Runs.Logits(_q8);
        Assert.NotEqual(vanilla, Runs.Logits(steered));
        if (mode != "dynamic") Assert.Equal(Runs.Logits(ByHand(model.Proto, outcome.Plan)), Runs.Logits(steered));
        if (mode == "fold")
        {
            Assert.Equal("mul", outcome.Patch.Step.Apply);
            Assert.Equal(outcome.Plan.Sites.Count, notes.Count(n => n.Contains("not folded (int8 dynamic quantisation (MatMulInteger)")));
        }
        if (mode == "switchable") Assert.Equal(vanilla, Runs.Logits(steered, strength: 0f));

        var restored = Steerer.UnpatchWithRecord(steered, _tmp["restored-" + mode]).Written.ModelFile;
        Assert.Equal(File.ReadAllBytes(_q8), File.ReadAllBytes(restored));
    }

    /// <summary>
    /// The plan's vectors multiplied in by hand, written independently of the patcher: attn/mlp values times v where
    /// DynamicQuantizeLinear reads them, mlp-out values times v after the rescaling Mul.
    /// </summary>
    private string ByHand(ModelProto original, SteeringPlan plan)
    {
        var proto = original.Clone();
        var nodes = proto.Graph.Node;
        foreach (var (s, i) in plan.Sites.Select((s, i) => (s, i)))
        {
            var v = new TensorProto { Name = $"hand{i}", DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(ElementEncoding.Encode(s.Vector, 1)) };
            v.Dims.Add(s.Vector.Length);
            proto.Graph.Initializer.Add(v);
            var mul = new NodeProto { OpType = "Mul", Name = $"hand{i}/Mul" };
            if (s.Site.Kind == SiteKind.MlpOut)
            {
                var producer = nodes.Single(n => n.Output.Contains(s.Site.ValueName));
                producer.Output[0] = $"hand{i}/before";
                mul.Input.Add([$"hand{i}/before", v.Name]);
                mul.Output.Add(s.Site.ValueName);
                nodes.Insert(nodes.IndexOf(producer) + 1, mul);
            }
            else
            {
                var quantize = nodes.Single(n => n.OpType == "DynamicQuantizeLinear" && n.Input[0] == s.Site.ValueName);
                mul.Input.Add([s.Site.ValueName, v.Name]);
                mul.Output.Add($"hand{i}/after");
                quantize.Input[0] = $"hand{i}/after";
                nodes.Insert(nodes.IndexOf(quantize), mul);
            }
        }
        var path = _tmp[$"hand-{Guid.NewGuid():N}.onnx"];
        File.WriteAllBytes(path, proto.ToByteArray());
        return path;
    }
}
