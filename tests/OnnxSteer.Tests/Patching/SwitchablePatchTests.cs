using OnnxSteer.Cli;
using OnnxSteer.Generation;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Patching;

/// <summary>
/// <c>patch --switchable</c> on stories260K through ONNX Runtime: at its defaults the model computes exactly what a plain
/// patch computes; feeding another selection's vectors gives exactly that re-patch; strength 0 is the vanilla model;
/// strength s·alpha agrees with a re-patch at that alpha; unpatching restores the original graph.
/// </summary>
public class SwitchablePatchTests
{
    private static readonly int[] Prompt = [1, 66, 82, 300, 45, 67, 290, 123, 7, 99, 400];

    public static TheoryData<string, string> Variants() => new()
    {
        { "genai", "fp32" }, { "genai", "fp16" }, { "standard", "fp32" }, { "standard", "int4" },
    };

    private sealed record Setup(string ModelFile, string Profile, TempDir Tmp) : IDisposable
    {
        public void Dispose() => Tmp.Dispose();
    }

    private static Setup Prepare(string style, string dtype)
    {
        var modelFile = Path.Combine(ImportedModels.Get(style, dtype), "model.onnx");
        var tmp = new TempDir();
        var model = OnnxModel.Load(modelFile);
        var profile = TestProfiles.Save(TestProfiles.Make(model, SiteFinder.Find(model).Sites, k: 12, alpha: 2), tmp.Path);
        return new Setup(modelFile, profile, tmp);
    }

    private static string Patch(Setup s, string name, PatchSettings request, bool switchable) =>
        Steerer.Patch(s.ModelFile, s.Profile, s.Tmp[name], request with { Switchable = switchable }).Written.ModelFile;

    /// <summary>
    /// Logits of <see cref="Prompt"/>, feeding <paramref name="feeds"/> for the run: the strength as a float32 scalar,
    /// vectors in the type the model declares for them.
    /// </summary>
    private static float[] Logits(string modelFile, IReadOnlyDictionary<string, float[]>? feeds = null)
    {
        using var model = DecoderModel.Open(modelFile);
        var values = new List<OrtValue>();
        try
        {
            foreach (var (name, data) in feeds ?? new Dictionary<string, float[]>())
            {
                var type = model.Session.OverridableInitializerMetadata[name].ElementDataType;
                var value = name == SwitchableSteering.StrengthName ? OrtValue.CreateTensorValueFromMemory(data, SwitchableSteering.StrengthShape)
                    : type == TensorElementType.Float16 ? OrtValue.CreateTensorValueFromMemory(data.Select(x => (Float16)x).ToArray(), [data.Length])
                    : OrtValue.CreateTensorValueFromMemory(data, [data.Length]);
                values.Add(value);
                model.SetModelInput(name, value);
            }
            return model.Forward(Prompt).Data;
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    /// <summary>The vector of each site a plan steers, keyed by the switchable model's input names.</summary>
    private static Dictionary<string, float[]> GammaFeeds(string switchableModel, Setup s, PatchSettings request)
    {
        var model = OnnxModel.Load(switchableModel);
        var step = SteeringMetadata.Read(model.Proto).Single();
        var plan = SteeringPlanner.Plan(SteeringTarget.Load(s.ModelFile), new ProfileFile(s.Profile), request.Request).Plan;
        var byVectorName = step.Edits.ToDictionary(e => e.Site, e => e.Initializer!);
        Assert.Equal(step.Edits.Select(e => e.Site).Order(), plan.Sites.Select(p => p.Site.Id).Order());
        return plan.Sites.ToDictionary(p => byVectorName[p.Site.Id], p => SwitchableSteering.HostVector(p));
    }

    [SharedTheory]
    [MemberData(nameof(Variants))]
    public void Defaults_equal_a_plain_patch_and_fed_vectors_equal_a_re_patch_bitwise(string style, string dtype)
    {
        using var s = Prepare(style, dtype);
        var switchable = Patch(s, "switch", new PatchSettings(), switchable: true);
        var plain = Patch(s, "plain", new PatchSettings(), switchable: false);
        var plainAlpha5 = Patch(s, "plain5", new PatchSettings { Alpha = 5 }, switchable: false);

        var atDefaults = Logits(switchable);
        Assert.Equal(Logits(plain), atDefaults);
        Assert.NotEqual(Logits(s.ModelFile), atDefaults);

        // Same units at alpha 5: feeding their vectors must give the re-patched model's logits, bit for bit.
        Assert.Equal(Logits(plainAlpha5), Logits(switchable, GammaFeeds(switchable, s, new PatchSettings { Alpha = 5 })));

        // Strength 0 multiplies by exactly 1: the vanilla model.
        Assert.Equal(Logits(s.ModelFile), Logits(switchable, new Dictionary<string, float[]> { [SwitchableSteering.StrengthName] = [0f] }));
    }

    [SharedTheory]
    [MemberData(nameof(Variants))]
    public void Strength_scales_alpha_within_rounding(string style, string dtype)
    {
        using var s = Prepare(style, dtype);
        var switchable = Patch(s, "switch", new PatchSettings(), switchable: true);
        var reference = Logits(Patch(s, "plain5", new PatchSettings { Alpha = 5 }, switchable: false));
        var fed = Logits(switchable, new Dictionary<string, float[]> { [SwitchableSteering.StrengthName] = [2.5f] });

        // 1 + 2.5·(v − 1) vs 1 + gamma computed at alpha 5: the factors differ by a few ulps of their type (three
        // roundings in fp16 arithmetic for fp16 sites), so the logits agree to 1e-5 (fp32, int4 with fp32 activations)
        // or 5e-3 (fp16, about two fp16 ulps at the largest logit) of the largest logit.
        var tolerance = dtype == "fp16" ? 5e-3 : 1e-5;
        var scale = Math.Max(1.0, reference.Max(Math.Abs));
        var difference = reference.Zip(fed, (a, b) => Math.Abs((double)a - b)).Max();
        Assert.True(difference <= tolerance * scale, $"{style}/{dtype}: max |Δlogit| {difference:g3} > {tolerance * scale:g3}");
        Assert.NotEqual(Logits(switchable), fed);
    }

    [SharedFact]
    public void Session_lists_the_overridable_inputs_and_unpatch_restores_the_original()
    {
        using var s = Prepare("genai", "fp16");
        var switchable = Patch(s, "switch", new PatchSettings(), switchable: true);
        var step = SteeringMetadata.Read(OnnxModel.Load(switchable).Proto).Single();
        Assert.True(step.Switchable);

        using (var session = new InferenceSession(switchable))
        {
            var overridable = session.OverridableInitializerMetadata;
            Assert.Contains(SwitchableSteering.StrengthName, overridable.Keys);
            foreach (var edit in step.Edits)
            {
                Assert.Matches(@"/steer(_\d+)?\.scale$", edit.Initializer);
                Assert.Contains(edit.Initializer!, overridable.Keys);
            }
            Assert.DoesNotContain(SwitchableSteering.StrengthName, session.InputNames);
        }

        var restored = Steerer.UnpatchWithRecord(switchable, s.Tmp["restored"]).Written.ModelFile;
        Assert.Equal(OnnxModel.Load(s.ModelFile).Proto.Graph, OnnxModel.Load(restored).Proto.Graph);
    }

    [SharedFact]
    public void Cached_generation_sees_the_fed_strength()
    {
        using var s = Prepare("genai", "fp32");
        var switchable = Patch(s, "switch", new PatchSettings(), switchable: true);
        using var model = DecoderModel.Open(switchable);
        using var zero = OrtValue.CreateTensorValueFromMemory(new[] { 0f }, SwitchableSteering.StrengthShape);
        model.SetModelInput(SwitchableSteering.StrengthName, zero);
        using var vanilla = DecoderModel.Open(s.ModelFile);

        using var cache = model.CreateCache();
        using var vanillaCache = vanilla.CreateCache();
        Assert.Equal(vanilla.Step(Prompt, vanillaCache), model.Step(Prompt, cache));
        Assert.Equal(vanilla.Step([42], vanillaCache), model.Step([42], cache));

        var e = Assert.Throws<InvalidModelException>(() => model.SetModelInput("no.such.input", zero));
        Assert.Contains("no.such.input", e.Message);
    }

    [SharedFact]
    public void Cli_refuses_fold_with_switchable()
    {
        using var s = Prepare("genai", "fp32");
        var (code, _, stderr) = CliProcess.Run(s.Tmp.Path, "patch", s.ModelFile, s.Profile, "-o", s.Tmp["out"], "--fold", "--switchable");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--switchable", stderr);
        Assert.False(Directory.Exists(s.Tmp["out"]));
    }

    [SharedFact]
    public void Cli_diff_explains_the_switch_and_generate_strength_zero_is_vanilla()
    {
        using var s = Prepare("genai", "fp32");
        var folder = Path.GetDirectoryName(s.ModelFile)!;
        var (code, stdout, stderr) = CliProcess.Run(s.Tmp.Path, "patch", folder, s.Profile, "-o", s.Tmp["sw"], "--switchable");
        Assert.True(code == 0, stderr);
        Assert.Contains(SwitchableSteering.StrengthName, stdout);

        (code, stdout, stderr) = CliProcess.Run(s.Tmp.Path, "diff", s.ModelFile, Path.Combine(s.Tmp["sw"], "model.onnx"));
        Assert.True(code == 1, stderr); // 1: the models differ
        Assert.Contains("Apart from the steering, the models are identical", stdout);
        var step = SteeringMetadata.Read(OnnxModel.Load(Path.Combine(s.Tmp["sw"], "model.onnx")).Proto).Single();
        Assert.Contains($"Steering: {step.Edits.Count} site", stdout);

        string Generate(string model, params string[] extra)
        {
            var (c, o, e) = CliProcess.Run(s.Tmp.Path, ["generate", model, "--prompt", "Once upon a time", "--max-new-tokens", "24", .. extra]);
            Assert.True(c == 0, e);
            return o;
        }
        var vanilla = Generate(folder);
        Assert.Equal(vanilla, Generate(s.Tmp["sw"], "--strength", "0"));
        Assert.NotEqual(vanilla, Generate(s.Tmp["sw"], "--strength", "8"));

        (code, _, stderr) = CliProcess.Run(s.Tmp.Path, "generate", folder, "--prompt", "x", "--strength", "2");
        Assert.Equal(ExitCodes.Usage, code); // an option this model cannot take: a command-line mistake (docs/errors.md)
        Assert.Contains("--switchable", stderr);
    }
}
