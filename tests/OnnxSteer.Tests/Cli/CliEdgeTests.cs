using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Cli;

/// <summary>
/// What a new user broke in one afternoon (issue 30): each case is the command as they typed it, with the exit code of
/// the table (README "Exit codes") and one line naming the file and the problem.
/// </summary>
public sealed class CliEdgeTests
{
    private static void Fails(int code, string expected, (int Code, string Stdout, string Stderr) r)
    {
        Assert.True(r.Code == code, $"exit {r.Code}, expected {code}: {r.Stderr}");
        Assert.Contains(expected, r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'), l => l.StartsWith("onnxsteer: error: ", StringComparison.Ordinal));
    }

    [SharedFact]
    public void Eval_on_no_items_is_bad_input_not_an_accuracy_of_0_of_0()
    {
        var f = CliFixture.Shared;
        var empty = Path.Combine(f.NewFolder("eval-empty"), "empty.jsonl");
        File.WriteAllText(empty, "");
        Fails(3, $"{empty}: no items to evaluate (the file is empty)", CliFixture.Run("eval", f.Model, "--task", "copa", "--data", empty));
        Fails(3, "no items to evaluate after --offset 100000", CliFixture.Run("eval", f.Model, "--task", "copa", "--data", CliFixture.CopaVal, "--offset", "100000"));
    }

    [SharedFact]
    public void A_folder_or_a_gguf_where_a_profile_belongs_is_named_as_such()
    {
        var f = CliFixture.Shared;
        var dir = f.NewFolder("not-a-profile");
        Fails(3, $"{dir}: is a folder, not a profile", CliFixture.Run("select", dir, "--k", "2"));
        var gguf = Path.Combine(dir, "v.gguf");
        File.WriteAllBytes(gguf, [.. "GGUF"u8, 3, 0, 0, 0, 0, 0, 0, 0]);
        Fails(3, $"{gguf}: is a GGUF control vector, not a profile", CliFixture.Run("select", gguf, "--k", "2"));
        Fails(3, $"{gguf}: is a GGUF control vector, not a profile", CliFixture.Run("export", gguf, "-o", Path.Combine(dir, "u.csv")));
        Fails(3, $"{gguf}: is a GGUF control vector, not pairs", CliFixture.Run("profile", f.Model, "--pairs", gguf, "-o", Path.Combine(dir, "p.json")));
        // A profile where a model belongs: the file is named, not ONNX Runtime's protobuf error (exit 4).
        Fails(3, $"{f.ProfilePath}: is a JSON file (a profile?), not an ONNX model", CliFixture.Run("generate", f.ProfilePath, "--prompt", "Once"));
        Fails(3, f.ProfilePath, CliFixture.Run("inspect", f.ProfilePath));
    }

    [SharedFact]
    public void Diff_reports_a_missing_model_with_the_bad_input_code()
    {
        var f = CliFixture.Shared;
        var missing = Path.Combine(f.NewFolder("diff"), "nothere.onnx");
        var r = CliFixture.Run("diff", f.Model, missing);
        Assert.True(r.Code == 3, $"exit {r.Code}: {r.Stderr}");
        Assert.Contains(missing, r.Stderr);
    }

    [SharedFact]
    public void Profile_keeps_an_earlier_checkpoint_unless_resumed_or_forced()
    {
        var f = CliFixture.Shared;
        var output = Path.Combine(f.NewFolder("checkpoint"), "p.json");
        File.WriteAllText(output + ".checkpoint", "256 pairs of someone's work");
        var r = CliFixture.Run("profile", f.Model, "--task", "copa", "--data", CliFixture.CopaVal, "--limit", "2", "--checkpoint-every", "1", "-o", output);
        Fails(64, $"{output}.checkpoint: an earlier run's checkpoint is here: give --resume", r);
        Assert.Equal("256 pairs of someone's work", File.ReadAllText(output + ".checkpoint"));
    }

    [SharedFact]
    public void Merge_of_some_shards_is_refused_unless_partial()
    {
        var f = CliFixture.Shared;
        var dir = f.NewFolder("shards");
        string Shard(int i)
        {
            var path = Path.Combine(dir, $"s{i}.json");
            var r = CliFixture.Run("profile", f.Model, "--task", "copa", "--data", CliFixture.CopaVal, "--limit", "6", "--shard", $"{i}/3", "-q", "-o", path);
            Assert.True(r.Code == 0, r.Stderr);
            return path;
        }
        var (a, b) = (Shard(0), Shard(1));
        var merged = Path.Combine(dir, "m.json");
        Fails(64, "lacks shard 2/3", CliFixture.Run("merge", a, b, "-o", merged));
        Assert.False(File.Exists(merged));
        var partial = CliFixture.Run("merge", a, b, "-o", merged, "--partial");
        Assert.True(partial.Code == 0, partial.Stderr);
        Assert.Contains("merged 2 profiles", partial.Stdout);
    }

    [SharedFact]
    public void Patch_onto_its_input_says_so_without_asking_for_force()
    {
        var f = CliFixture.Shared;
        var r = CliFixture.Run("patch", f.Model, f.ProfilePath, "-o", f.Model);
        Fails(64, "this is the input model itself", r);
        Assert.DoesNotContain("give --force", r.Stderr);
    }

    [SharedFact]
    public void Show_gates_on_a_plain_model_fails_before_generating()
    {
        var f = CliFixture.Shared;
        var r = CliFixture.Run("generate", f.Model, "--prompt", "Once upon a time", "--max-new-tokens", "20", "--show-gates");
        Fails(3, "has no dynamic steering gates", r);
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void Serve_takes_the_force_its_messages_ask_for()
    {
        var serve = OnnxSteer.Cli.CliApp.BuildRoot().Subcommands.Single(c => c.Name == "serve");
        Assert.Contains(serve.Options, o => o.Name == "--force");
    }

    [Fact]
    public void Renamed_options_keep_their_old_spelling_hidden()
    {
        var root = OnnxSteer.Cli.CliApp.BuildRoot();
        System.CommandLine.Option Find(string command, string name) => root.Subcommands.Single(c => c.Name == command).Options.Single(o => o.Name == name);
        foreach (var (command, now, old) in new[]
                 {
                     ("profile", "--offset", "--skip"), ("profile", "--limit", "--pairs-limit"), ("profile", "--context", "--max-tokens"),
                     ("eval", "--output", "--out"), ("sweep", "--output", "--out-dir"),
                 })
        {
            Assert.False(Find(command, now).Hidden, $"{command} {now}");
            Assert.True(Find(command, old).Hidden, $"{command} {old}");
        }
        Assert.Contains("-o", Find("compare", "--output").Aliases);
    }

    [SharedFact]
    public void Ctrl_c_in_profile_keeps_the_finished_pairs_and_says_how_to_resume()
    {
        var f = CliFixture.Shared;
        var output = Path.Combine(f.NewFolder("ctrl-c"), "p.json");
        // Only a time-based checkpoint that never comes due: what is kept, the interrupt itself saved.
        string[] args = ["profile", f.Model, "--task", "copa", "--data", SharedData.Path("data", "copa", "balanced-copa-dev-all.xml"),
            "--batch-size", "2", "--checkpoint-minutes", "600", "-o", output];
        var psi = CliProcess.StartInfo(args);
        using var process = System.Diagnostics.Process.Start(psi)!;
        var stderr = new System.Text.StringBuilder();
        var started = new ManualResetEventSlim();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderr) stderr.AppendLine(e.Data);
            if (e.Data.StartsWith("profile: ", StringComparison.Ordinal)) started.Set();
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        Assert.True(started.Wait(TimeSpan.FromSeconds(120)), "profiling never started: " + stderr);
        Thread.Sleep(300);
        Assert.Equal(0, CliProcess.Exec("kill", null, ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]).Code);
        Assert.True(process.WaitForExit(60_000), "profile did not stop on SIGINT");
        process.WaitForExit();
        var said = stderr.ToString();
        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}: {said}");
        Assert.Matches($@"onnxsteer: interrupted after \d+ of 1000 pairs: \d+ are kept in {System.Text.RegularExpressions.Regex.Escape(output)}\.checkpoint; run the same command with --resume", said);
        Assert.True(File.Exists(output + ".checkpoint"));
        Assert.False(File.Exists(output));

        var resumed = CliFixture.Run([.. args, "--resume", "-q"]);
        Assert.True(resumed.Code == 0, resumed.Stderr);
        Assert.Matches(@"resuming from .*\.checkpoint: \d+ of 1000 pairs were done, going on from pair \d+", resumed.Stderr);
        Assert.True(File.Exists(output));
    }

    [SharedFact]
    public void Messages_speak_the_users_language()
    {
        var f = CliFixture.Shared;
        var dir = f.NewFolder("words");
        // A mistyped option gets a suggestion; a wrong value says what kind was expected, not a .NET type.
        var typo = CliFixture.Run("select", f.ProfilePath, "--alhpa", "2");
        Assert.Equal(64, typo.Code);
        Assert.Contains("(did you mean --alpha?)", typo.Stderr);
        var kind = CliFixture.Run("select", f.ProfilePath, "--k", "many");
        Assert.Equal(64, kind.Code);
        Assert.Contains("as a whole number", kind.Stderr);
        Assert.DoesNotContain("System.", kind.Stderr);
        // One wording for a non-finite number.
        Assert.Contains("--alpha NaN: must be a finite number", CliFixture.Run("select", f.ProfilePath, "--alpha", "NaN").Stderr);
        Assert.Contains("--alpha NaN: must be a finite number", CliFixture.Run("sweep", f.Model, "--profile", f.ProfilePath, "--task", "copa",
            "--data", CliFixture.CopaVal, "--val", "2", "--alpha", "NaN", "-o", Path.Combine(dir, "sw")).Stderr);
        Assert.Contains("--strength NaN: must be a finite number", CliFixture.Run("generate", f.Model, "--prompt", "Once", "--strength", "NaN").Stderr);
        // A truncated profile: no "isFinalBlock" from the JSON reader.
        var cut = Path.Combine(dir, "cut.json");
        File.WriteAllText(cut, File.ReadAllText(f.ProfilePath)[..200]);
        var truncated = CliFixture.Run("select", cut);
        Assert.Equal(3, truncated.Code);
        Assert.Contains("the file ends before its JSON does", truncated.Stderr);
        Assert.DoesNotContain("isFinalBlock", truncated.Stderr);
        // alpha 0 gives gamma 0 for every unit, printed as 0, never -0.
        var zero = CliFixture.Run("select", f.ProfilePath, "--alpha", "0");
        Assert.True(zero.Code == 0, zero.Stderr);
        Assert.DoesNotMatch(@"\s-0\s", zero.Stdout);
        // -q: no memory line; --k beyond the units is said, not silent.
        var quiet = CliFixture.Run("profile", f.Model, "--task", "copa", "--data", CliFixture.CopaVal, "--limit", "2", "--k", "5000", "-q", "-o", Path.Combine(dir, "q.json"));
        Assert.True(quiet.Code == 0, quiet.Stderr);
        Assert.DoesNotContain("memory:", quiet.Stderr);
        Assert.Contains("note: --k 5000 is more than the", quiet.Stderr);
        // Not a terminal: eval still says what it is doing; compare prints no box drawing.
        var eval = CliFixture.Run("eval", f.Model, "--task", "copa", "--data", CliFixture.CopaVal, "--limit", "2");
        Assert.True(eval.Code == 0, eval.Stderr);
        Assert.Contains("model: 2/2 items", eval.Stderr);
        var prompts = Path.Combine(dir, "prompts.txt");
        File.WriteAllText(prompts, "Once upon a time\n");
        var compare = CliFixture.Run("compare", f.Model, f.Model, "--prompts", prompts, "--max-new-tokens", "4", "--count", "happy");
        Assert.True(compare.Code == 0, compare.Stderr);
        Assert.Contains("vanilla: ", compare.Stdout);
        Assert.DoesNotMatch("[─│╭╮╰╯┌┐└┘]", compare.Stdout);
    }
}
