using OnnxSteer.Cli;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Cli;

/// <summary>
/// The error contract on the mistakes of issue 19 (items 7-13): one line <c>onnxsteer: error: &lt;file&gt;: &lt;problem&gt;</c>,
/// exit 3 for bad input and 64 for a bad command line, the user's paths (never a temporary name), and every argument
/// and output path checked before a model is read or run.
/// </summary>
public sealed class CliErrorTests(ITestOutputHelper output)
{
    /// <summary>The single error line of a failed run, after checking the exit code and the contract's form.</summary>
    private string ErrorLine((int Code, string Stdout, string Stderr) r, int code)
    {
        output.WriteLine($"exit {r.Code}: {r.Stderr.Trim()}");
        Assert.True(r.Code == code, $"exit {r.Code}, expected {code}: {r.Stderr}");
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith("Try '", StringComparison.Ordinal)).ToList();
        var line = Assert.Single(lines);
        Assert.StartsWith("onnxsteer: error: ", line);
        Assert.DoesNotContain(".tmp", line);
        return line["onnxsteer: error: ".Length..];
    }

    [SharedFact]
    public void A_missing_profile_is_bad_input_named_by_its_path()
    {
        var f = CliFixture.Shared;
        var missing = Path.Combine(f.Dir, "nothere.json");
        var line = ErrorLine(CliFixture.Run("patch", f.Model, missing, "-o", f.NewFolder("out")), ExitCodes.InvalidInput);
        Assert.Equal($"{missing}: no such file or folder", line);
    }

    [SharedFact]
    public void Command_line_mistakes_are_usage_errors()
    {
        var f = CliFixture.Shared;
        var dir = f.NewFolder("usage");
        // diff: --generate without --prompt; a bad command line stays 64 even under diff's "errors are 2".
        Assert.Contains("--prompt", ErrorLine(CliFixture.Run("diff", f.Model, f.Model, "--generate", "5"), ExitCodes.Usage));
        // patch into its own input.
        Assert.Contains("input model itself", ErrorLine(CliFixture.Run("patch", Path.Combine(f.Model, "model.onnx"), f.ProfilePath, "-o", Path.Combine(f.Model, "model.onnx"), "--force"), ExitCodes.Usage));
        // --strength on a model not patched with --switchable.
        Assert.Contains("--switchable", ErrorLine(CliFixture.Run("generate", f.Model, "--prompt", "a", "--strength", "0.5"), ExitCodes.Usage));
        // --k 0 is the option's problem, not the profile's.
        Assert.Equal("--k 0: must be at least 1", ErrorLine(CliFixture.Run("patch", f.Model, f.ProfilePath, "--k", "0", "-o", Path.Combine(dir, "k0")), ExitCodes.Usage));
        Assert.Equal("--k 0: must be at least 1", ErrorLine(CliFixture.Run("select", f.ProfilePath, "--k", "0"), ExitCodes.Usage));
        // An unknown device: one line that names the option and the choices.
        var device = ErrorLine(CliFixture.Run("generate", f.Model, "--prompt", "a", "--device", "gpu"), ExitCodes.Usage);
        Assert.StartsWith("--device: ", device);
        Assert.Contains("'cpu', 'cuda', 'auto'", device);
    }

    [SharedFact]
    public void Select_says_when_k_asks_for_more_units_than_the_profile_has()
    {
        var f = CliFixture.Shared;
        var r = CliFixture.Run("select", f.ProfilePath, "--k", "100000");
        Assert.Equal(0, r.Code);
        var units = OnnxSteer.Profiles.SteeringProfile.Load(f.ProfilePath).Sites.Where(s => s.Kind == OnnxSteer.Sites.SiteKind.Attn).Sum(s => s.Width);
        Assert.Contains($"--k 100000 is more than the {units} attn units the profile has: all {units} are selected", r.Stderr);
        Assert.DoesNotContain("is more than", CliFixture.Run("select", f.ProfilePath, "--k", units.ToString()).Stderr);
    }

    [SharedFact]
    public void Pairs_files_that_are_profiles_truncated_or_empty_are_refused_in_our_words_before_the_model_loads()
    {
        var f = CliFixture.Shared;
        var dir = f.NewFolder("pairs");
        var nowhere = Path.Combine(dir, "no-model"); // every refusal below must come before the model is opened
        var asProfile = ErrorLine(CliFixture.Run("profile", nowhere, "--pairs", f.ProfilePath, "-o", Path.Combine(dir, "x.json")), ExitCodes.InvalidInput);
        Assert.StartsWith($"{f.ProfilePath}: this is a profile", asProfile);

        var truncated = Path.Combine(dir, "cut.jsonl");
        File.WriteAllText(truncated, "{\"prompt\": \"a\", \"positive\": \"b\", \"negative\": \"c\"}\n{\"prompt\": \"a\", \"posi\n");
        var cut = ErrorLine(CliFixture.Run("profile", nowhere, "--pairs", truncated, "-o", Path.Combine(dir, "x.json")), ExitCodes.InvalidInput);
        Assert.StartsWith($"{truncated}:2: not valid JSON: the line ends before its object does", cut);
        Assert.DoesNotContain("LineNumber", cut);

        var bad = Path.Combine(dir, "bad.jsonl");
        File.WriteAllText(bad, "{\"prompt\": \"a\" \"positive\": \"b\"}\n");
        Assert.Matches(@":1: not valid JSON at column \d+: ", ErrorLine(CliFixture.Run("profile", nowhere, "--pairs", bad, "-o", Path.Combine(dir, "x.json")), ExitCodes.InvalidInput));

        var empty = ErrorLine(CliFixture.Run("profile", nowhere, "--pairs", "/dev/null", "-o", Path.Combine(dir, "x.json")), ExitCodes.InvalidInput);
        Assert.Equal("/dev/null: no pairs to profile (the file is empty)", empty);
        Assert.False(File.Exists(Path.Combine(dir, "x.json")));
    }

    [SharedFact]
    public void Arguments_and_output_paths_are_checked_before_any_model_is_read()
    {
        var f = CliFixture.Shared;
        var dir = f.NewFolder("early");
        var nowhere = Path.Combine(dir, "no-model");
        // A regular file where a folder should be: unwritable for root too (a read-only folder is not, for root).
        var file = Path.Combine(dir, "a-file");
        File.WriteAllText(file, "x");
        var unwritable = Path.Combine(file, "out.json");

        Assert.Equal("--k 0: must be at least 1",
            ErrorLine(CliFixture.Run("profile", nowhere, "--task", "copa", "--data", CliFixture.CopaVal, "--k", "0", "-o", Path.Combine(dir, "p.json")), ExitCodes.Usage));
        Assert.StartsWith("--alpha NaN: must be a finite number",
            ErrorLine(CliFixture.Run("profile", nowhere, "--task", "copa", "--data", CliFixture.CopaVal, "--alpha", "NaN", "-o", Path.Combine(dir, "p.json")), ExitCodes.Usage));
        foreach (var args in new[]
                 {
                     new[] { "profile", nowhere, "--task", "copa", "--data", CliFixture.CopaVal, "-o", unwritable },
                     ["compare", nowhere, nowhere, "--prompts", CliFixture.CopaVal, "--json", unwritable],
                     ["eval", nowhere, "--task", "copa", "--data", CliFixture.CopaVal, "--out", unwritable],
                     ["diff", nowhere, nowhere, "-o", unwritable],
                     ["sweep", nowhere, "--profile", f.ProfilePath, "--task", "copa", "--data", CliFixture.CopaVal, "--val", "2", "--out-dir", unwritable],
                     ["patch", nowhere, f.ProfilePath, "-o", unwritable],
                 })
        {
            var r = CliFixture.Run(args);
            var line = ErrorLine(r, r.Code);
            Assert.True(r.Code is ExitCodes.Usage, $"{args[0]}: exit {r.Code}");
            Assert.StartsWith(unwritable, line);
            Assert.Contains("is a file", line);
        }
    }

    [Fact]
    public void File_system_errors_name_the_users_path_not_a_temporary_one()
    {
        var (line, code) = IoErrors.Describe(new IOException("Read-only file system : '/data/out/.p.json.22539.07ff3ab6a1b2c3d4e5f60718293a4b5c.tmp'"));
        Assert.Equal(("/data/out/p.json: read-only file system", ExitCodes.Failure), (line, code));
        (line, code) = IoErrors.Describe(new UnauthorizedAccessException("Access to the path '/data/.steered.1234.07ff3ab6a1b2c3d4e5f60718293a4b5c.tmp/model.onnx' is denied."));
        Assert.Equal(("/data/steered/model.onnx: permission denied", ExitCodes.Failure), (line, code));
        (line, code) = IoErrors.Describe(new FileNotFoundException("Could not find file '/x/nothere.json'.", "/x/nothere.json"));
        Assert.Equal(("/x/nothere.json: no such file or folder", ExitCodes.InvalidInput), (line, code));
    }
}
