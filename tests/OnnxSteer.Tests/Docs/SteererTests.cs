using Google.Protobuf;
using OnnxSteer.ModelFiles;
using OnnxSteer.Pairs;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.ProfileRuns;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.Docs;

/// <summary>One profile of the imported genai model (fp32, external data), recorded once for every test here.</summary>
public sealed class SteererFixture : IDisposable
{
    private readonly Lazy<(string Model, SteeringProfile Profile, string Saved)> _profiled;

    public static readonly ContrastivePair[] Pairs =
    [
        new("Tom got a new red bike. Tom was so", " happy", " sad"),
        new("Lily played with a ball all day. At the end of the day Lily felt very", " happy", " sad"),
    ];

    public static readonly ProfileSettings Settings = new() { K = 4, Alpha = 2, Sites = [SiteKind.Mlp] };

    internal TempDir Tmp { get; } = new();

    public SteererFixture() => _profiled = new(() =>
    {
        var model = ImportedModels.Get("genai", "fp32");
        var profile = Steerer.Profile(model, Pairs, Settings);
        var saved = Tmp["profile.json"];
        Steerer.Save(profile, saved);
        return (model, profile, saved);
    });

    public string Model => _profiled.Value.Model;
    public SteeringProfile Profile => _profiled.Value.Profile;
    public string Saved => _profiled.Value.Saved;

    public void Dispose() => Tmp.Dispose();
}

/// <summary>
/// The front door against the paths it wraps: in memory against on disk, the library against the CLI, patch against
/// unpatch. Each compares bytes or protobuf structure, so a difference anywhere in the chain fails.
/// </summary>
public sealed class SteererTests(SteererFixture f) : IClassFixture<SteererFixture>
{
    [SharedFact]
    public void Patching_a_profile_in_memory_writes_the_model_a_saved_copy_gives_and_records_its_sha256()
    {
        Steerer.Patch(f.Model, f.Profile, f.Tmp["from-memory"]);
        Steerer.Patch(f.Model, f.Saved, f.Tmp["from-file"]);

        var a = OnnxModel.Load(f.Tmp["from-memory/model.onnx"]);
        var b = OnnxModel.Load(f.Tmp["from-file/model.onnx"]);
        Assert.Equal(b.Proto.ToByteArray(), a.Proto.ToByteArray());
        var step = Assert.Single(SteeringMetadata.Read(a.Proto, "from-memory"));
        Assert.Equal(ProfileFile.Sha256Of(f.Saved), step.ProfileSha256);
    }

    [SharedFact]
    public void Steer_in_memory_gives_the_model_patch_writes_byte_for_byte()
    {
        var settings = new PatchSettings { K = 3, Alpha = 1.5, Switchable = true };
        var outcome = Steerer.Patch(f.Model, f.Saved, f.Tmp["patched"], settings);
        var steered = Steerer.Steer(f.Model, f.Saved, settings);

        var written = OnnxModel.Load(outcome.Written.ModelFile);
        Assert.Equal(written.Proto.ToByteArray(), steered.ToBytes());
        Assert.Equal(3, steered.Patch.Step.K);
        Assert.Equal(3, steered.Plan.Sites.Sum(s => s.Units.Count));
        Assert.NotEqual(OnnxModel.Load(f.Model).Proto.ToByteArray(), steered.Model.Proto.ToByteArray());
        // As docs/library.md shows: ONNX Runtime opens the bytes, reading external data from the model's folder.
        using (var session = Steerer.OpenSession(steered))
            Assert.Contains(SwitchableSteering.StrengthName, session.OverridableInitializerMetadata.Keys);
        // Writing the in-memory model later gives the same file as patching straight to disk.
        var later = steered.Write(f.Tmp["written-later"]);
        Assert.Equal(File.ReadAllBytes(outcome.Written.ModelFile), File.ReadAllBytes(later.ModelFile));
    }

    [SharedFact]
    public void Unpatch_restores_a_model_structurally_equal_to_the_original()
    {
        var original = OnnxModel.Load(f.Model).Proto;
        foreach (var (name, settings) in new[] { ("fold", new PatchSettings { Fold = true }), ("switch", new PatchSettings { Switchable = true }) })
        {
            var patched = Steerer.Patch(f.Model, f.Profile, f.Tmp["steered-" + name], settings);
            Assert.NotEqual(original, OnnxModel.Load(patched.Written.ModelFile).Proto);

            var (written, removed) = Steerer.UnpatchWithRecord(patched.Written.ModelFile, f.Tmp["restored-" + name]);
            Assert.Equal("austeer", Assert.Single(removed).Method);
            Assert.Equal(original, OnnxModel.Load(written.ModelFile).Proto);
        }
    }

    [SharedFact]
    public void A_patch_s_public_step_is_what_its_metadata_records_and_what_unpatch_returns()
    {
        var outcome = Steerer.Patch(f.Model, f.Saved, f.Tmp["step"], new PatchSettings { K = 3, Alpha = 1.5, Switchable = true });
        var step = outcome.Step;
        Assert.Equal(("austeer", (int?)3, 1.5, 3, true), (step.Method, step.K, step.Alpha, step.Units, step.Switchable));
        var recorded = Assert.Single(SteeringMetadata.Read(OnnxModel.Load(outcome.Written.ModelFile).Proto));
        Assert.Equal(recorded.Sites, step.Sites);
        Assert.Equal(recorded.Edits.Select(e => e.Initializer), step.SiteVectors);
        Assert.Equal(recorded.Edits.Sum(e => e.Units), step.Units);

        var back = Steerer.Unpatch(outcome.Written.ModelFile, f.Tmp["step-back"]);
        var removed = Assert.Single(back.Removed);
        Assert.Equal((step.Method, step.Apply, step.Units), (removed.Method, removed.Apply, removed.Units));
        Assert.Equal(step.SiteVectors, removed.SiteVectors);
        Assert.Equal(OnnxModel.Load(f.Model).Proto, OnnxModel.Load(back.Written.ModelFile).Proto);
    }

    [SharedFact]
    public void Step_adapters_read_every_switchable_step_of_a_stack_and_refuse_a_plain_patch()
    {
        var first = Steerer.Patch(f.Model, f.Saved, f.Tmp["stack-1"], new PatchSettings { Switchable = true });
        Steerer.Patch(first.Written.ModelFile, f.Saved, f.Tmp["stack-2"], new PatchSettings { Switchable = true, Existing = ExistingSteering.Stack, K = 2 });
        var adapters = OnnxSteer.HostFormats.StepAdapters.Read(f.Tmp["stack-2"]);
        Assert.Equal(2, adapters.StepCount);
        Assert.Throws<ArgumentException>(() => adapters.Write(f.Tmp["one.onnx_adapter"], [1f]));
        Assert.Throws<ArgumentException>(() => adapters.Write(f.Tmp["nan.onnx_adapter"], [1f, float.NaN]));
        adapters.Write(f.Tmp["two.onnx_adapter"], [1f, 0f]);
        Assert.True(new FileInfo(f.Tmp["two.onnx_adapter"]).Length > 0);

        var plain = Steerer.Patch(f.Model, f.Saved, f.Tmp["plain-step"]);
        var e = Assert.Throws<InvalidModelException>(() => OnnxSteer.HostFormats.StepAdapters.Read(plain.Written.ModelFile));
        Assert.Contains("step 1 of 1 was not patched switchable", e.Message);
    }

    [SharedFact]
    public void Cli_patch_and_Steerer_Patch_write_byte_identical_files()
    {
        var (code, stdout, stderr) = CliProcess.Run(null, "patch", f.Model, f.Saved, "-o", f.Tmp["cli"], "--k", "2", "--alpha", "3", "--sites", "mlp", "--switchable");
        Assert.True(code == 0, stderr);
        Assert.Contains("wrote ", stdout);
        Steerer.Patch(f.Model, f.Saved, f.Tmp["library"], new PatchSettings { K = 2, Alpha = 3, Sites = [SiteKind.Mlp], Switchable = true });

        var cli = Directory.GetFiles(f.Tmp["cli"]).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var library = Directory.GetFiles(f.Tmp["library"]).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(cli, library);
        Assert.Contains("model.onnx", cli);
        foreach (var file in cli)
            Assert.True(File.ReadAllBytes(Path.Combine(f.Tmp["cli"], file!)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(f.Tmp["library"], file!))),
                $"{file} differs between the CLI and the library");
    }

    [SharedFact]
    public void Select_with_no_choices_keeps_the_selection_and_with_choices_writes_what_cli_select_writes()
    {
        var same = Steerer.Select(f.Profile, f.Profile.Selection);
        Assert.Equal(f.Profile.Units.Select(u => (u.Site, u.Index, u.Gamma)), same.Units.Select(u => (u.Site, u.Index, u.Gamma)));

        var (code, _, stderr) = CliProcess.Run(null, "select", f.Saved, "--k", "2", "--alpha", "5", "--direction", "sign-aware", "-o", f.Tmp["cli-select.json"]);
        Assert.True(code == 0, stderr);
        var chosen = Steerer.Select(f.Profile, f.Profile.Selection with { K = 2, Alpha = 5, Direction = DirectionRule.SignAware });
        Steerer.Save(chosen, f.Tmp["library-select.json"]);
        Assert.Equal(File.ReadAllBytes(f.Tmp["cli-select.json"]), File.ReadAllBytes(f.Tmp["library-select.json"]));
        Assert.Equal(2, chosen.Units.Count);
        Assert.NotEqual(f.Profile.Units.Select(u => u.Gamma), chosen.Units.Select(u => u.Gamma));
    }

    [SharedFact]
    public void Merge_of_the_shards_equals_the_whole_and_writes_what_cli_merge_writes()
    {
        var shards = new[] { 0, 1 }.Select(i =>
        {
            var path = f.Tmp[$"shard{i}.json"];
            Steerer.Save(Steerer.Profile(f.Model, SteererFixture.Pairs, SteererFixture.Settings with { Shard = new ShardSpec(i, 2) }), path);
            return path;
        }).ToList();

        var merged = Steerer.Merge(shards);
        Assert.Equal(f.Profile.Pairs, merged.Pairs);
        Assert.Equal(f.Profile.Units.Select(u => (u.Site, u.Index, u.Gamma)), merged.Units.Select(u => (u.Site, u.Index, u.Gamma)));

        var (code, _, stderr) = CliProcess.Run(null, ["merge", .. shards, "-o", f.Tmp["cli-merged.json"]]);
        Assert.True(code == 0, stderr);
        Steerer.Save(merged, f.Tmp["library-merged.json"]);
        Assert.Equal(File.ReadAllBytes(f.Tmp["cli-merged.json"]), File.ReadAllBytes(f.Tmp["library-merged.json"]));
    }
}
