using OnnxSteer.Cli;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Cli;

/// <summary>
/// The one output rule (issue 30, docs/errors.md "Outputs"): no command replaces a file that exists without --force —
/// models, profiles, exports, adapters, reports, and the sidecars a model carries into its folder. One case per
/// command that writes; a command with an --output option and no case here fails the test.
/// </summary>
public sealed class OutputRuleTests
{
    private const string Precious = "precious: not written by this test's command";

    [SharedFact]
    public void Every_command_that_writes_refuses_to_replace_an_existing_file_without_force()
    {
        var f = CliFixture.Shared;
        var dir = f.NewFolder("rule");
        string In(params string[] parts) => Path.Combine([dir, .. parts]);
        // Inputs need not be valid for most cases: the refusal comes before any input is read.
        var cases = new List<(string Command, string Existing, string[] Args)>
        {
            ("import llama2c", In("imported", "tokenizer.json"),
                ["import", "llama2c", ImportedModels.CheckpointPath, "--tokenizer", ImportedModels.TokenizerPath, "-o", In("imported")]),
            ("synth llama", In("synth", "genai_config.json"),
                ["synth", "llama", "-o", In("synth"), "--layers", "1", "--hidden", "8", "--intermediate", "16", "--heads", "1", "--vocab", "16"]),
            ("profile", In("p.json"), ["profile", f.Model, "--task", "copa", "--data", CliFixture.CopaVal, "--limit", "2", "-o", In("p.json")]),
            ("select", In("s.json"), ["select", f.ProfilePath, "--k", "2", "-o", In("s.json")]),
            ("merge", In("m.json"), ["merge", f.ProfilePath, "-o", In("m.json")]),
            ("export", In("units.csv"), ["export", f.ProfilePath, "-o", In("units.csv")]),
            ("import-vector", In("cv.json"), ["import-vector", In("no.gguf"), "--model", f.Model, "-o", In("cv.json")]),
            // A sidecar patch would carry into its folder, already there with other bytes.
            ("patch", In("patched", "genai_config.json"), ["patch", f.Model, f.ProfilePath, "-o", In("patched")]),
            ("unpatch", In("unpatched", "tokenizer.json"), ["unpatch", f.Model, "-o", In("unpatched")]),
            ("repack", In("repacked", "tokenizer_config.json"), ["repack", f.Model, "-o", In("repacked")]),
            ("adapter", In("a.onnx_adapter"), ["adapter", f.Model, "--strength", "2", "-o", In("a.onnx_adapter")]),
            ("diff", In("diff.json"), ["diff", f.Model, f.Model, "-o", In("diff.json")]),
            ("compare", In("compare.json"), ["compare", f.Model, f.Model, "--prompts", In("none.txt"), "-o", In("compare.json")]),
            ("eval", In("items.jsonl"), ["eval", f.Model, "--task", "copa", "--data", CliFixture.CopaVal, "--limit", "2", "-o", In("items.jsonl")]),
            ("sweep", In("sweep", "chosen-profile.json"),
                ["sweep", f.Model, "--profile", f.ProfilePath, "--task", "copa", "--data", CliFixture.CopaVal, "--val", "2", "-o", In("sweep")]),
        };

        var failures = new List<string>();
        foreach (var (command, existing, args) in cases)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(existing)!);
            File.WriteAllText(existing, Precious);
            var r = CliFixture.Run(args);
            var said = r.Stderr.Trim();
            if (r.Code != 64 || !said.Contains(existing, StringComparison.Ordinal) || !said.Contains("--force", StringComparison.Ordinal))
                failures.Add($"{command}: exit {r.Code}, '{said}' (expected 64 naming {existing} and --force)");
            if (File.ReadAllText(existing) != Precious) failures.Add($"{command}: replaced {existing}");
        }
        Assert.True(failures.Count == 0, string.Join('\n', failures));

        // Every command that writes (has --output) has its case above.
        var writers = new List<string>();
        void Collect(System.CommandLine.Command c, string words)
        {
            foreach (var sub in c.Subcommands) Collect(sub, (words + " " + sub.Name).Trim());
            if (c.Options.Any(o => o.Name == "--output")) writers.Add(words);
        }
        Collect(CliApp.BuildRoot(), "");
        Assert.Equal(writers.Order(StringComparer.Ordinal), cases.Select(c => c.Command).Order(StringComparer.Ordinal));
    }

    [SharedFact]
    public void With_force_a_differing_sidecar_is_replaced_and_an_equal_one_needs_no_force()
    {
        var f = CliFixture.Shared;
        var target = Path.Combine(f.NewFolder("sidecar"), "patched");
        Directory.CreateDirectory(target);
        var config = Path.Combine(target, "genai_config.json");
        // The same bytes as the model's own: nothing would be lost, so no --force is needed.
        File.Copy(Path.Combine(f.Model, "genai_config.json"), config);
        var same = CliFixture.Run("patch", f.Model, f.ProfilePath, "-o", target);
        Assert.True(same.Code == 0, same.Stderr);
        // Forced over a different one: replaced by the model's.
        var other = Path.Combine(Path.GetDirectoryName(target)!, "other");
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, "genai_config.json"), Precious);
        Assert.Equal(0, CliFixture.Run("patch", f.Model, f.ProfilePath, "-o", other, "--force").Code);
        Assert.Equal(File.ReadAllText(Path.Combine(f.Model, "genai_config.json")), File.ReadAllText(Path.Combine(other, "genai_config.json")));
    }

    [SharedFact]
    public void Repack_to_a_name_without_dot_onnx_writes_a_folder_with_its_sidecars()
    {
        var f = CliFixture.Shared;
        var dir = f.NewFolder("repack-name");
        var r = CliFixture.Run("repack", f.Model, "-o", Path.Combine(dir, "copy"));
        Assert.True(r.Code == 0, r.Stderr);
        Assert.True(File.Exists(Path.Combine(dir, "copy", "model.onnx")), "no copy/model.onnx");
        Assert.True(File.Exists(Path.Combine(dir, "copy", "tokenizer.json")), "the tokenizer was not carried into copy/");
        Assert.False(File.Exists(Path.Combine(dir, "tokenizer.json")), "a sidecar landed in the parent folder");
    }
}
