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
/// Optimum's <c>decoder_model_merged.onnx</c> (<see cref="OptimumMerged"/>): one site per projection found in both
/// branches of the If; profiling records through the If what the with-past decoder records (and what a plain run
/// exposing the value gives); every patch mode (Mul, fold, switchable, dynamic) edits both branches alike and gives
/// the logits and greedy tokens of the same patch on the with-past decoder; unpatch restores the file byte for byte.
/// </summary>
public sealed class OptimumMergedTests : IDisposable
{
    private readonly TempDir _tmp = new();
    private readonly string _withPast;
    private readonly string _merged;

    public OptimumMergedTests()
    {
        // Optimum's folder: decoder_with_past_model.onnx and decoder_model_merged.onnx beside one data file, a tokenizer.json.
        if (!SharedData.Available) { _withPast = _merged = ""; return; }
        var source = ImportedModels.Get("standard", "fp32");
        foreach (var file in Directory.GetFiles(source).Where(f => Path.GetFileName(f) != "genai_config.json"))
            File.Copy(file, Path.Combine(_tmp.Path, Path.GetFileName(file) == "model.onnx" ? "decoder_with_past_model.onnx" : Path.GetFileName(file)));
        _withPast = Path.Combine(_tmp.Path, "decoder_with_past_model.onnx");
        _merged = OptimumMerged.Write(_withPast);
    }

    public void Dispose() => _tmp.Dispose();

    [SharedFact]
    public void Each_site_of_the_with_past_decoder_is_one_site_in_both_branches()
    {
        var plain = SiteFinder.Find(OnnxModel.Load(_withPast)).Sites;
        var merged = SiteFinder.Find(OnnxModel.Load(_merged));
        Assert.Equal(plain.Select(s => (s.Id, s.Width, s.ElementType, s.ProjectionNode, s.ValueName)),
            merged.Sites.Select(s => (s.Id, s.Width, s.ElementType, s.ProjectionNode, s.ValueName)));
        Assert.All(merged.Sites, s => Assert.Equal(["then_branch", "else_branch"], s.Branches.Select(b => b.Attribute)));
        Assert.All(merged.Sites, s => Assert.All(s.Branches, b => Assert.Equal("optimum::if", b.IfNode)));
        Assert.Empty(merged.Unsupported);
    }

    [SharedFact]
    public void Recording_through_the_If_equals_a_plain_run_that_exposes_each_value()
    {
        var model = OnnxModel.Load(_merged);
        var sites = SiteFinder.Find(model).Sites;
        using var recorder = new ActivationRecorder(model, sites);
        var recorded = recorder.Record([Runs.Prompt, Runs.Prompt[..5]]);

        // Independent: the with-past decoder run by plain ONNX Runtime with each site's value as an extra output.
        var withPast = OnnxModel.Load(_withPast);
        using var decoder = DecoderModel.Open(_withPast);
        foreach (var (ids, b) in new[] { (Runs.Prompt, 0), (Runs.Prompt[..5], 1) })
        {
            using var inputs = decoder.CreateInputs(ids);
            var values = OrtHarness.Run(withPast.Proto, _tmp.Path, inputs.ToDictionary(), sites.Select(s => s.ValueName).Distinct().ToList(),
                (int)TensorProto.Types.DataType.Float);
            for (var s = 0; s < sites.Count; s++)
            {
                var all = values[sites[s].ValueName];
                var last = all[^sites[s].Width..];
                Assert.Equal(last, recorded[b][s]);
            }
        }
    }

    public static TheoryData<string> Modes() => new(ConformanceChecks.Modes);

    [SharedTheory]
    [MemberData(nameof(Modes))]
    public void A_steered_merged_decoder_computes_what_the_same_steering_does_on_the_with_past_decoder(string mode)
    {
        var options = ConformanceChecks.Options(mode);
        string Steer(string file, string name)
        {
            var model = OnnxModel.Load(file);
            var profile = TestProfiles.Make(model, SiteFinder.Find(model).Sites, k: 12, alpha: 2);
            if (mode == "dynamic") profile = TestProfiles.WithSeededProbes(profile);
            var path = TestProfiles.Save(profile, _tmp.Path, name + ".json");
            var outcome = Steerer.Patch(file, path, _tmp[name], options);
            if (mode == "fold") Assert.Equal("fold", outcome.Patch.Step.Apply);
            return outcome.Written.ModelFile;
        }
        var steeredMerged = Steer(_merged, "merged-" + mode);
        var steeredPast = Steer(_withPast, "past-" + mode);

        var vanilla = Runs.Logits(_merged);
        var expected = Runs.Logits(steeredPast);
        Assert.NotEqual(vanilla, expected);
        Assert.Equal(expected, Runs.Logits(steeredMerged));
        Assert.Equal(Runs.Greedy(steeredPast), Runs.Greedy(steeredMerged));
        if (mode == "switchable") Assert.Equal(vanilla, Runs.Logits(steeredMerged, strength: 0f));

        var restored = Steerer.UnpatchWithRecord(steeredMerged, _tmp["restored-" + mode]).Written.ModelFile;
        Assert.Equal(File.ReadAllBytes(_merged), File.ReadAllBytes(restored));
    }
}
