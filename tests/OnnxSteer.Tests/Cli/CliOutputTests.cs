using System.CommandLine;
using System.Text.Json;
using OnnxSteer.Cli;
using OnnxSteer.Evaluation;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Cli;

/// <summary>
/// What the commands print (issue 19, items 1-4 and 6): plain text off a terminal and with NO_COLOR or --no-color,
/// colour on a terminal otherwise; usage lines naming onnxsteer; diff's steering summary and top tokens; inspect's
/// evidence column; streamed text equal to the decoded text; JSON lines that keep quotes readable.
/// </summary>
public sealed class CliOutputTests(ITestOutputHelper output)
{
    private const char Esc = '\u001b';

    [Fact]
    public void Every_commands_usage_line_names_onnxsteer()
    {
        var leaves = Leaves(CliApp.BuildRoot(), []).ToList();
        Assert.True(leaves.Count >= 15, $"only {leaves.Count} commands found");
        var failures = new List<string>();
        Parallel.ForEach(leaves, new ParallelOptions { MaxDegreeOfParallelism = 3 }, words =>
        {
            var (code, stdout, _) = CliFixture.Run([.. words.Split(' '), "--help"]);
            var usage = stdout.Split('\n').SkipWhile(l => l.Trim() != "Usage:").Skip(1).FirstOrDefault()?.Trim() ?? "";
            if (code != 0 || !usage.StartsWith($"onnxsteer {words}", StringComparison.Ordinal) || stdout.Contains("OnnxSteer.Cli", StringComparison.Ordinal))
                lock (failures) failures.Add($"{words}: exit {code}, usage '{usage}'");
        });
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        var root = CliFixture.Run("--help");
        Assert.Contains("onnxsteer [command] [options]", root.Stdout);
        Assert.Contains("--no-color", root.Stdout);
    }

    [SharedFact]
    public void Compare_and_diff_are_coloured_only_on_a_terminal_without_NO_COLOR_or_no_color()
    {
        var f = CliFixture.Shared;
        var prompts = Path.Combine(f.NewFolder("prompts"), "prompts.txt");
        File.WriteAllText(prompts, "Once upon a time\n");
        string[] compare = ["compare", f.Model, f.Model, "--prompts", prompts, "--max-new-tokens", "3", "--count", "the"];
        string[] diff = ["diff", f.Model, Path.Combine(f.Model, "model.onnx"), "--prompt", "Once upon a time"];
        foreach (var args in new[] { compare, diff })
        {
            var name = args[0];
            var terminal = CliFixture.RunOnTerminal(new Dictionary<string, string?>(), args);
            if (terminal is null)
            {
                output.WriteLine("util-linux 'script' is not installed: the terminal half of this test is skipped");
                continue;
            }
            // On a terminal .NET itself may switch the keypad mode (ESC[?1h ESC=); colour and bold are SGR sequences.
            Assert.True(Styled(terminal), $"{name} on a terminal printed no colour:\n{terminal}");
            var noColorEnv = CliFixture.RunOnTerminal(new Dictionary<string, string?> { ["NO_COLOR"] = "1" }, args)!;
            Assert.False(Styled(noColorEnv), $"{name} with NO_COLOR=1 on a terminal:\n{noColorEnv}");
            var noColorFlag = CliFixture.RunOnTerminal(new Dictionary<string, string?>(), [.. args, "--no-color"])!;
            Assert.False(Styled(noColorFlag), $"{name} --no-color on a terminal:\n{noColorFlag}");
            // NO_COLOR="" is not set (no-color.org): colour stays.
            Assert.True(Styled(CliFixture.RunOnTerminal(new Dictionary<string, string?> { ["NO_COLOR"] = "" }, args)!));

            var piped = CliFixture.RunWith(new Dictionary<string, string?> { ["TERM"] = "xterm-256color", ["NO_COLOR"] = null }, args);
            Assert.True(piped.Code is 0 or 1, $"{name}: exit {piped.Code}: {piped.Stderr}");
            Assert.False((piped.Stdout + piped.Stderr).Contains(Esc), $"{name} into a pipe with TERM=xterm-256color:\n{piped.Stdout}");
            output.WriteLine($"{name}: terminal {Sgr.Matches(terminal).Count} colour/style codes; NO_COLOR, --no-color none; a pipe no escape at all");
        }
    }

    [SharedFact]
    public void Commands_that_succeed_print_no_escape_codes_into_pipes()
    {
        var f = CliFixture.Shared;
        var dir = f.NewFolder("plain");
        string[][] runs =
        [
            ["inspect", f.Model],
            ["select", f.ProfilePath, "--k", "3"],
            ["profile", f.Model, "--task", "copa", "--data", CliFixture.CopaVal, "--limit", "2", "-o", Path.Combine(dir, "p.json")],
            ["patch", f.Model, f.ProfilePath, "-o", Path.Combine(dir, "steered")],
            ["generate", f.Model, "--prompt", "Once", "--max-new-tokens", "3"],
            ["eval", f.Model, "--task", "copa", "--data", CliFixture.CopaVal, "--limit", "2", "--mode", "loglik"],
        ];
        foreach (var args in runs)
        {
            var r = CliFixture.RunWith(new Dictionary<string, string?> { ["TERM"] = "xterm-256color", ["NO_COLOR"] = null }, args);
            Assert.True(r.Code == 0, $"{args[0]}: exit {r.Code}: {r.Stderr}");
            Assert.False((r.Stdout + r.Stderr).Contains(Esc), $"{args[0]} wrote escape codes into a pipe:\n{r.Stdout}\n{r.Stderr}");
        }
    }

    [SharedFact]
    public void Diff_summarises_only_changed_steering_metadata_sees_a_change_of_strength_and_shows_leading_spaces()
    {
        var f = CliFixture.Shared;
        var dir = f.NewFolder("diff");
        string a = Path.Combine(dir, "a"), b = Path.Combine(dir, "b");
        Assert.Equal(0, CliFixture.Run("patch", f.Model, f.ProfilePath, "-o", a).Code);
        Assert.Equal(0, CliFixture.Run("patch", f.Model, f.ProfilePath, "-o", b, "--alpha", "20").Code);

        // vanilla -> steered: the import's own onnxsteer.export_* keys are in both models, so not steering metadata.
        var steered = CliFixture.Run("diff", f.Model, a, "--json");
        Assert.Equal(1, steered.Code);
        using (var doc = JsonDocument.Parse(steered.Stdout))
        {
            var keys = doc.RootElement.GetProperty("steering").GetProperty("metadata").EnumerateObject().Select(p => p.Name).ToList();
            var changed = doc.RootElement.GetProperty("metadata").EnumerateArray().Select(m => m.GetProperty("name").GetString()).ToList();
            output.WriteLine($"steering metadata: {string.Join(", ", keys)}; changed: {string.Join(", ", changed)}");
            Assert.DoesNotContain(keys, k => k.StartsWith("onnxsteer.export_", StringComparison.Ordinal));
            Assert.All(keys, k => Assert.Contains(k, changed));
        }

        // Two steered copies that differ only in alpha: the changed vectors are steering, with alpha 20's gammas.
        var strength = CliFixture.Run("diff", a, b);
        output.WriteLine(strength.Stdout);
        Assert.Equal(1, strength.Code);
        Assert.DoesNotContain("Steering: 0 sites", strength.Stdout);
        Assert.Matches(@"Steering: [1-9]\d* sites?, [1-9]\d* units?", strength.Stdout);
        Assert.Contains("Apart from the steering, the models are identical.", strength.Stdout);

        // Top tokens after a prompt: SentencePiece words carry their leading space (" time", not "time").
        var prompt = CliFixture.Run("diff", f.Model, a, "--prompt", "Once upon a", "--json");
        using var p = JsonDocument.Parse(prompt.Stdout);
        var texts = p.RootElement.GetProperty("prompt").GetProperty("top_a").EnumerateArray().Select(t => t.GetProperty("text").GetString()!).ToList();
        output.WriteLine("top tokens: " + string.Join(" | ", texts.Select(t => $"\"{t}\"")));
        Assert.Contains(texts, t => t.StartsWith(' '));
    }

    [SharedFact]
    public void Inspect_text_shows_the_evidence_each_site_was_found_by()
    {
        var f = CliFixture.Shared;
        var text = CliFixture.Run("inspect", f.Model);
        var json = CliFixture.Run("inspect", f.Model, "--json");
        Assert.Equal(0, text.Code);
        using var doc = JsonDocument.Parse(json.Stdout);
        var sites = doc.RootElement.GetProperty("sites").EnumerateArray().ToList();
        Assert.NotEmpty(sites);
        Assert.Matches(@"\n\s+site\s+width\s+dtype\s+op\s+projection\s+value\s+evidence\n", text.Stdout);
        foreach (var site in sites)
        {
            var evidence = site.GetProperty("evidence").GetString()!;
            var row = text.Stdout.Split('\n').Single(l => l.TrimStart().StartsWith(site.GetProperty("id").GetString()! + " ", StringComparison.Ordinal));
            Assert.EndsWith(evidence, row.TrimEnd());
        }
    }

    [Fact]
    public void Streamed_text_ends_as_the_decoded_text_on_a_synthetic_model()
    {
        using var dir = new Patching.TempDir();
        var model = dir["synth"];
        var made = CliFixture.Run("synth", "llama", "-o", model, "--layers", "1", "--hidden", "32", "--intermediate", "64", "--heads", "2", "--vocab", "512");
        Assert.True(made.Code == 0, made.Stderr);
        var json = CliFixture.Run("generate", model, "--prompt", "a", "--max-new-tokens", "10", "--json");
        var streamed = CliFixture.Run("generate", model, "--prompt", "a", "--max-new-tokens", "10");
        Assert.Equal(0, json.Code);
        Assert.Equal(0, streamed.Code);
        using var doc = JsonDocument.Parse(json.Stdout);
        var text = doc.RootElement.GetProperty("text").GetString()!;
        output.WriteLine($"json text: {string.Join(" ", text.Select(c => $"U+{(int)c:X4}"))}");
        Assert.NotEmpty(text);
        Assert.Equal("a" + text + "\n", streamed.Stdout);
    }

    [Fact]
    public void Item_lines_write_quotes_and_non_ascii_text_as_they_are()
    {
        var line = EvalReport.ItemLine(new ItemResult("q1", "\"é<", "\"", false));
        Assert.Contains("\"prediction\":\"\\\"é<\"", line);
        Assert.DoesNotContain("\\u0022", line);
        using var doc = JsonDocument.Parse(line);
        Assert.Equal("\"é<", doc.RootElement.GetProperty("prediction").GetString());
    }

    /// <summary>Select Graphic Rendition: colour, bold, underline (ESC [ ... m).</summary>
    private static readonly System.Text.RegularExpressions.Regex Sgr = new("\u001b\\[[0-9;]*m");

    private static bool Styled(string text) => Sgr.IsMatch(text);

    private static IEnumerable<string> Leaves(Command command, string[] path)
    {
        foreach (var sub in command.Subcommands)
        {
            string[] words = [.. path, sub.Name];
            if (sub.Subcommands.Count == 0) yield return string.Join(' ', words);
            else foreach (var leaf in Leaves(sub, words)) yield return leaf;
        }
    }
}
