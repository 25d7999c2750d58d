using Google.Protobuf;
using OnnxSteer.Cli.Reports;
using OnnxSteer.Diffing;
using OnnxSteer.Generation;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Tests.Reference;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Patching;

/// <summary>
/// <c>patch --dynamic</c> (DSAS gates) on stories260K through ONNX Runtime: the C# reference forward pass with the gate
/// and steering applied by hand agrees with the runtime; a gate forced to 1 is the uniform patch, forced to 0 the
/// vanilla model (bitwise); the switch composes with the gate; unpatch and diff know the gates.
/// </summary>
public sealed class DynamicPatchTests(ITestOutputHelper output)
{
    private static readonly int[] Prompt = [1, 66, 82, 300, 45, 67, 290, 123, 7, 99, 400, 261, 378];

    private sealed record Setup(string ModelFile, string Profile, TempDir Tmp) : IDisposable
    {
        public void Dispose() => Tmp.Dispose();
    }

    /// <summary>
    /// A selection from seeded counts, with seeded probes on every site (<see cref="TestProfiles.WithSeededProbes"/>;
    /// each test checks that the gates do not saturate).
    /// </summary>
    private static Setup Prepare(string style, string dtype, SteeringMethod method = SteeringMethod.AuSteer, double lowAccuracySite = -1)
    {
        var modelFile = Path.Combine(ImportedModels.Get(style, dtype), "model.onnx");
        var tmp = new TempDir();
        var model = OnnxModel.Load(modelFile);
        var sites = SiteFinder.Find(model).Sites;
        var profile = TestProfiles.WithSeededProbes(TestProfiles.Make(model, sites, k: 12, alpha: 2, method: method), lowAccuracySite: (int)lowAccuracySite);
        return new Setup(modelFile, TestProfiles.Save(profile, tmp.Path), tmp);
    }

    private static PatchOutcome Patch(Setup s, string name, bool dynamic, bool switchable = false) =>
        Steerer.Patch(s.ModelFile, s.Profile, s.Tmp[name], new PatchSettings { Switchable = switchable, Dynamic = dynamic });

    private static float[] Logits(string modelFile, float? strength = null)
    {
        using var model = DecoderModel.Open(modelFile);
        using var value = strength is { } v ? OrtValue.CreateTensorValueFromMemory(new[] { v }, SwitchableSteering.StrengthShape) : null;
        if (value is not null) model.SetModelInput(SwitchableSteering.StrengthName, value);
        return model.Forward(Prompt).Data;
    }

    private static double MaxDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();

    [SharedTheory]
    [InlineData("genai")]
    [InlineData("standard")]
    public void Reference_with_the_gate_applied_by_hand_agrees_with_onnx_runtime_to_1e_5(string style)
    {
        using var s = Prepare(style, "fp32");
        var dynamic = Patch(s, "dynamic", dynamic: true);
        var plan = dynamic.Plan.Sites.ToDictionary(p => (p.Site.Kind, p.Site.Layer));
        Assert.Contains(plan.Values, p => p.Site.Kind == SiteKind.MlpOut); // the output-edge form is covered too

        var byHand = new Dictionary<string, List<float>>();
        var reference = LlamaReference.Load(ImportedModels.CheckpointPath).Forward(Prompt, (kind, layer, h) =>
        {
            if (!plan.TryGetValue((kind, layer), out var site)) return;
            var probe = site.Gate!;
            var logit = probe.Bias;
            for (var i = 0; i < h.Length; i++) logit += (double)probe.Weights[i] * h[i];
            var g = (float)ProbeFitter.Sigmoid(logit);
            for (var i = 0; i < h.Length; i++) h[i] *= 1 + g * (site.Vector[i] - 1);
            (byHand.TryGetValue(site.Site.Id, out var list) ? list : byHand[site.Site.Id] = []).Add(g);
        });
        var expected = reference.Logits.SelectMany(r => r).ToArray();
        var actual = Logits(dynamic.Written.ModelFile);
        var difference = MaxDifference(expected, actual);
        var vanillaDistance = MaxDifference(Logits(s.ModelFile), actual);
        output.WriteLine($"{style}: max |reference − ORT| = {difference:g3}; steering moved the logits by up to {vanillaDistance:g3}");
        Assert.True(difference <= 1e-5 * Math.Max(1, expected.Max(Math.Abs)), $"max |Δlogit| {difference:g3}");
        Assert.True(vanillaDistance > 1e-2, "the dynamic steering should change the logits");

        // generate --show-gates reads the same gates the reference computed.
        var traced = GateTrace.Run(dynamic.Written.ModelFile, Prompt);
        var all = new List<float>();
        for (var i = 0; i < traced.Sites.Count; i++)
        {
            var expectedGates = byHand[traced.Sites[i]];
            Assert.Equal(Prompt.Length, expectedGates.Count);
            for (var t = 0; t < Prompt.Length; t++) Assert.True(Math.Abs(expectedGates[t] - traced.Gates[i][t]) <= 1e-5, $"{traced.Sites[i]} @ {t}");
            all.AddRange(traced.Gates[i]);
        }
        Assert.Contains(all, g => g is > 0.05f and < 0.95f); // not saturated: the test exercises a real gate
        Assert.True(all.Max() - all.Min() > 0.2, "gates should vary across positions and sites");
    }

    /// <summary>Writes a copy of the patched model beside it with every gate's bias set to <paramref name="bias"/>.</summary>
    private static string ForceGates(string patchedModel, float bias, string name)
    {
        var model = OnnxModel.Load(patchedModel);
        var proto = model.Proto.Clone();
        foreach (var edit in SteeringMetadata.Read(proto).SelectMany(step => step.Edits).Where(e => e.Gate is not null))
        {
            var biasName = edit.Gate!.Initializers.Single(n => n.EndsWith(".gate_bias", StringComparison.Ordinal));
            var tensor = proto.Graph.Initializer.Single(t => t.Name == biasName);
            tensor.RawData = ByteString.CopyFrom(ElementEncoding.Encode([bias], tensor.DataType));
        }
        var path = Path.Combine(Path.GetDirectoryName(patchedModel)!, name);
        File.WriteAllBytes(path, proto.ToByteArray());
        return path;
    }

    [SharedTheory]
    [InlineData("genai", "fp32", SteeringMethod.AuSteer)]
    [InlineData("standard", "fp16", SteeringMethod.AuSteer)]
    [InlineData("genai", "fp16", SteeringMethod.Caa)]
    [InlineData("standard", "fp32", SteeringMethod.Caa)]
    public void Gate_forced_to_one_is_the_uniform_patch_and_to_zero_the_vanilla_model(string style, string dtype, SteeringMethod method)
    {
        using var s = Prepare(style, dtype, method);
        var dynamic = Patch(s, "dynamic", dynamic: true).Written.ModelFile;
        var uniform = Logits(Patch(s, "uniform", dynamic: false).Written.ModelFile);
        var vanilla = Logits(s.ModelFile);

        // sigmoid(±30000 + w·h) is exactly 1 or 0 in float and in fp16.
        var one = Logits(ForceGates(dynamic, 30000f, "one.onnx"));
        var zero = Logits(ForceGates(dynamic, -30000f, "zero.onnx"));
        Assert.Equal(vanilla, zero);
        // 1 + 1·(v − 1) against v: one rounding of the factor's type (bitwise equal for the additive 1·c).
        var tolerance = dtype == "fp16" ? 5e-3 : 1e-5;
        var difference = MaxDifference(uniform, one);
        output.WriteLine($"{style}/{dtype}/{method.ToName()}: gate 1 vs uniform max |Δlogit| {difference:g3}");
        Assert.True(difference <= tolerance * Math.Max(1, uniform.Max(Math.Abs)), $"gate 1 vs uniform: {difference:g3}");
        if (method == SteeringMethod.Caa) Assert.Equal(uniform, one);
        Assert.NotEqual(vanilla, uniform);
        var free = Logits(dynamic);
        Assert.NotEqual(uniform, free);
        Assert.NotEqual(vanilla, free);
    }

    [SharedFact]
    public void Switch_composes_with_the_gate_and_unpatch_and_diff_know_the_gates()
    {
        using var s = Prepare("genai", "fp32");
        var dynamic = Patch(s, "dynamic", dynamic: true).Written.ModelFile;
        var both = Patch(s, "both", dynamic: true, switchable: true);
        Assert.True(both.Patch.Step.Dynamic);
        Assert.True(both.Patch.Step.Switchable);

        // Strength 1 (the default) is the gated patch; strength 0 is the vanilla model.
        Assert.Equal(Logits(dynamic), Logits(both.Written.ModelFile));
        Assert.Equal(Logits(s.ModelFile), Logits(both.Written.ModelFile, strength: 0f));
        Assert.NotEqual(Logits(dynamic), Logits(both.Written.ModelFile, strength: 2f));

        foreach (var model in new[] { dynamic, both.Written.ModelFile })
        {
            var restored = Steerer.UnpatchWithRecord(model, s.Tmp["restored-" + Path.GetFileName(Path.GetDirectoryName(model))]).Written.ModelFile;
            Assert.Equal(OnnxModel.Load(s.ModelFile).Proto.Graph, OnnxModel.Load(restored).Proto.Graph);

            var report = ModelDiffer.Compare(s.ModelFile, model);
            var steering = report.Steering!;
            Assert.True(steering.RestUnchanged, string.Join("; ", steering.OtherChanges));
            Assert.All(steering.Sites, site => Assert.StartsWith("gate sigmoid(w·h + b)", site.Gate));
            Assert.Equal(both.Patch.Step.Sites.Count, steering.Sites.Count);
            Assert.Contains(DiffText.Render(report), line => line.Text.Contains("probe held-out accuracy 0.9"));
        }
    }

    [SharedFact]
    public void Sites_below_the_probe_threshold_are_left_unsteered_and_fold_is_refused()
    {
        using var s = Prepare("genai", "fp32", lowAccuracySite: 0);
        var profile = SteeringProfile.Load(s.Profile);
        var weak = profile.Probes!.Sites[0].Site;
        var notes = new List<string>();
        var outcome = Steerer.Patch(s.ModelFile, s.Profile, s.Tmp["dyn"], new PatchSettings { Dynamic = true, Notice = n => notes.Add(n.ToString()) });
        var plain = Steerer.Patch(s.ModelFile, s.Profile, s.Tmp["plain"], null);
        Assert.Contains(weak, plain.Patch.Step.Sites);
        Assert.DoesNotContain(weak, outcome.Patch.Step.Sites);
        Assert.Contains(notes, n => n.Contains($"{weak}: probe held-out accuracy 0.5 < 0.75: left unsteered"));

        var strict = Assert.Throws<InvalidProfileException>(() =>
            Steerer.Patch(s.ModelFile, s.Profile, s.Tmp["strict"], new PatchSettings { Dynamic = true, ProbeThreshold = 0.95 }));
        Assert.Contains("no steered site has a probe with held-out accuracy ≥ 0.95", strict.Message);
        Assert.False(Directory.Exists(s.Tmp["strict"]) && Directory.EnumerateFiles(s.Tmp["strict"]).Any());

        var folded = Assert.Throws<InvalidParameterException>(() =>
            Steerer.Patch(s.ModelFile, s.Profile, s.Tmp["fold"], new PatchSettings { Fold = true, Dynamic = true }));
        Assert.Equal(ExitCodes.Usage, ErrorReporter.ExitCode(folded));

        var cli = CliProcess.Run(null, "patch", s.ModelFile, s.Profile, "-o", s.Tmp["cli"], "--dynamic", "--fold");
        Assert.Equal(ExitCodes.Usage, cli.Code);
        Assert.Equal("onnxsteer: error: --fold and --dynamic cannot be used together: a folded weight cannot depend on the input", cli.Stderr.Trim());
    }

    [SharedFact]
    public void The_same_gates_scale_a_gguf_control_vector_and_a_stacked_step()
    {
        // The caa profile's vectors (in the residual stream: mlp-out) as a llama.cpp control vector, which carries no
        // probes, gated by the profile's probes.
        var modelFile = Path.Combine(ImportedModels.Get("genai", "fp32"), "model.onnx");
        var model = OnnxModel.Load(modelFile);
        var tmp = new TempDir();
        var caa = TestProfiles.WithSeededProbes(TestProfiles.Make(model, SiteFinder.Find(model).Sites, k: 12, alpha: 2, method: SteeringMethod.Caa, kinds: [SiteKind.MlpOut]));
        using var s = new Setup(modelFile, TestProfiles.Save(caa, tmp.Path), tmp);
        var gguf = Path.Combine(s.Tmp.Path, "vector.gguf");
        OnnxSteer.HostFormats.ProfileExport.Write(SteeringProfile.Load(s.Profile), s.Profile, gguf, OnnxSteer.HostFormats.ExportFormat.Gguf);
        PatchOutcome FromGguf(string name, PatchSettings? options) =>
            Steerer.Patch(s.ModelFile, gguf, s.Tmp[name], options);
        var refused = Assert.Throws<InvalidProfileException>(() => FromGguf("no-gates", new PatchSettings { Dynamic = true }));
        Assert.Contains("the profile has no probes", refused.Message);

        var uniform = FromGguf("uniform", null);
        var gated = FromGguf("gated", new PatchSettings { Dynamic = true, GatesFrom = s.Profile });
        Assert.True(gated.Patch.Step.Dynamic);
        Assert.All(gated.Patch.Step.Edits, e => Assert.NotNull(e.Gate));
        var vanilla = Logits(s.ModelFile);
        Assert.Equal(vanilla, Logits(ForceGates(gated.Written.ModelFile, -30000f, "zero.onnx")));
        Assert.Equal(Logits(uniform.Written.ModelFile), Logits(ForceGates(gated.Written.ModelFile, 30000f, "one.onnx")));
        var free = Logits(gated.Written.ModelFile);
        Assert.NotEqual(vanilla, free);
        Assert.NotEqual(Logits(uniform.Written.ModelFile), free);
        var traced = GateTrace.Run(gated.Written.ModelFile, Prompt).Gates.SelectMany(g => g).ToList();
        Assert.Contains(traced, g => g is > 0.05f and < 0.95f);

        // Stacked on an AUSteer patch: the earlier step stays uniform, the new one is gated (gates forced to 0: the AUSteer patch alone).
        using var units = Prepare("genai", "fp32");
        var first = Patch(units, "first", dynamic: false).Written.ModelFile;
        var stacked = Steerer.Patch(first, gguf, s.Tmp["stacked"], new PatchSettings { Existing = ExistingSteering.Stack, Dynamic = true, GatesFrom = s.Profile });
        var steps = SteeringMetadata.Read(OnnxModel.Load(stacked.Written.ModelFile).Proto);
        Assert.Equal((2, false, true), (steps.Count, steps[0].Dynamic == true, steps[1].Dynamic == true));
        Assert.Equal(Logits(first), Logits(ForceGates(stacked.Written.ModelFile, -30000f, "stacked-zero.onnx")));
        Assert.NotEqual(Logits(first), Logits(stacked.Written.ModelFile));

        var notDynamic = Assert.Throws<InvalidParameterException>(() => (new PatchSettings { GatesFrom = s.Profile }).Request);
        Assert.Contains("--gates-from needs --dynamic", ErrorReporter.Message(notDynamic));
    }

    [SharedFact]
    public void A_profile_without_probes_is_refused_for_dynamic()
    {
        using var tmp = new TempDir();
        var modelFile = Path.Combine(ImportedModels.Get("genai", "fp32"), "model.onnx");
        var model = OnnxModel.Load(modelFile);
        var profile = TestProfiles.Save(TestProfiles.Make(model, SiteFinder.Find(model).Sites, k: 4, alpha: 2), tmp.Path);
        var e = Assert.Throws<InvalidProfileException>(() =>
            Steerer.Patch(modelFile, profile, tmp["out"], new PatchSettings { Dynamic = true }));
        Assert.Contains("the profile has no probes; profile with --probes to fit them (--dynamic needs them)", ErrorReporter.Message(e));
    }
}
