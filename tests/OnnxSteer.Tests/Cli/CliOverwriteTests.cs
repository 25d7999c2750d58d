using OnnxSteer.ModelFiles;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Cli;

/// <summary>
/// Outputs (issue 19, items 14-15): an existing model, profile or export is replaced only with --force, and a forced
/// replace leaves no stale file; repack carries the files that make its output usable.
/// </summary>
public sealed class CliOverwriteTests(ITestOutputHelper output)
{
    private static string Sha(string path) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));

    [SharedFact]
    public void Existing_outputs_are_refused_without_force_and_replaced_with_it()
    {
        var f = CliFixture.Shared;
        var dir = f.NewFolder("overwrite");
        var profile = Path.Combine(dir, "p.json");
        File.WriteAllText(profile, "precious");
        var refused = CliFixture.Run("select", f.ProfilePath, "--k", "2", "-o", profile);
        Assert.Equal(64, refused.Code);
        Assert.Equal($"onnxsteer: error: {profile}: already exists; give --force to replace it", refused.Stderr.Trim());
        Assert.Equal("precious", File.ReadAllText(profile));
        Assert.Equal(0, CliFixture.Run("select", f.ProfilePath, "--k", "2", "-o", profile, "--force").Code);
        Assert.Equal(2, OnnxSteer.Profiles.SteeringProfile.Load(profile).Units.Count);

        // profile -o: refused before any pair runs (the model path does not even exist).
        var early = CliFixture.Run("profile", Path.Combine(dir, "no-model"), "--task", "copa", "--data", CliFixture.CopaVal, "-o", profile);
        Assert.Equal(64, early.Code);
        Assert.Contains("already exists", early.Stderr);

        // import -o onto an existing model folder.
        var imported = Path.Combine(dir, "imported");
        Assert.Equal(0, CliFixture.Run("import", "llama2c", ImportedModels.CheckpointPath, "--tokenizer", ImportedModels.TokenizerPath, "-o", imported).Code);
        var again = CliFixture.Run("import", "llama2c", ImportedModels.CheckpointPath, "--tokenizer", ImportedModels.TokenizerPath, "-o", imported);
        Assert.Equal(64, again.Code);
        Assert.Contains(Path.Combine(imported, "model.onnx") + ": already exists", again.Stderr);
        Assert.Equal(0, CliFixture.Run("import", "llama2c", ImportedModels.CheckpointPath, "--tokenizer", ImportedModels.TokenizerPath, "-o", imported, "--force").Code);
    }

    [SharedFact]
    public void A_forced_plain_patch_over_a_folded_one_leaves_no_stale_steer_data()
    {
        var f = CliFixture.Shared;
        var dir = f.NewFolder("fold");
        var target = Path.Combine(dir, "steered");
        var reference = Path.Combine(dir, "reference");
        // The model keeps its weights in model.onnx.data, so a fold writes model.onnx.steer.data.
        Assert.Equal(0, CliFixture.Run("patch", f.Model, f.ProfilePath, "-o", target, "--fold").Code);
        var stale = Path.Combine(target, "model.onnx.steer.data");
        Assert.True(File.Exists(stale), "the folded patch wrote no model.onnx.steer.data");

        var refused = CliFixture.Run("patch", f.Model, f.ProfilePath, "-o", target);
        Assert.Equal(64, refused.Code);
        Assert.Contains("already exists; give --force", refused.Stderr);

        var forced = CliFixture.Run("patch", f.Model, f.ProfilePath, "-o", target, "--force");
        output.WriteLine(forced.Stdout);
        Assert.Equal(0, forced.Code);
        Assert.False(File.Exists(stale), "a stale model.onnx.steer.data was left beside the plain patch");
        Assert.Contains($"removed {stale}", forced.Stdout);
        // The forced result is the same model a plain patch writes into an empty folder.
        Assert.Equal(0, CliFixture.Run("patch", f.Model, f.ProfilePath, "-o", reference).Code);
        Assert.Equal(Sha(Path.Combine(reference, "model.onnx")), Sha(Path.Combine(target, "model.onnx")));
        Assert.Equal(Directory.EnumerateFiles(reference).Select(Path.GetFileName).Order(), Directory.EnumerateFiles(target).Select(Path.GetFileName).Order());
        OnnxModel.Load(Path.Combine(target, "model.onnx"));
    }

    [SharedFact]
    public void Repack_carries_the_tokenizer_and_genai_config_so_generate_works_on_its_output()
    {
        var f = CliFixture.Shared;
        var dir = f.NewFolder("repack");
        var outModel = Path.Combine(dir, "model.onnx");
        var r = CliFixture.Run("repack", f.Model, "-o", outModel, "--external-data", "model.onnx.data");
        output.WriteLine(r.Stdout);
        Assert.Equal(0, r.Code);
        foreach (var name in Directory.EnumerateFiles(f.Model).Select(Path.GetFileName).Where(n => n is not ("model.onnx" or "model.onnx.data")))
            Assert.True(File.Exists(Path.Combine(dir, name!)), $"{name} was not carried");
        Assert.True(File.Exists(Path.Combine(dir, "tokenizer.json")));
        Assert.True(File.Exists(Path.Combine(dir, "genai_config.json")));
        var original = CliFixture.Run("generate", f.Model, "--prompt", "Once upon a time", "--max-new-tokens", "8");
        var repacked = CliFixture.Run("generate", dir, "--prompt", "Once upon a time", "--max-new-tokens", "8");
        Assert.True(repacked.Code == 0, repacked.Stderr);
        Assert.Equal(original.Stdout, repacked.Stdout);
        // A second repack onto it needs --force; inline, it leaves no unused model.onnx.data behind.
        Assert.Equal(64, CliFixture.Run("repack", f.Model, "-o", outModel, "--inline").Code);
        var inline = CliFixture.Run("repack", f.Model, "-o", outModel, "--inline", "--force");
        output.WriteLine(inline.Stdout);
        Assert.Equal(0, inline.Code);
        Assert.False(File.Exists(Path.Combine(dir, "model.onnx.data")), "the replaced model's data file was left behind");
        Assert.Empty(OnnxModel.Load(outModel).DataFileLocations());
        Assert.True(File.Exists(Path.Combine(f.Model, "model.onnx.data")), "the input's data file must never be touched");
        Assert.Equal(original.Stdout, CliFixture.Run("generate", dir, "--prompt", "Once upon a time", "--max-new-tokens", "8").Stdout);
    }
}
