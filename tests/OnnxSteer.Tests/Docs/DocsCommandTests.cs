using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Docs;

/// <summary>
/// Executable documentation (issue 30): every shell block of README.md and docs/*.md runs here, in order, in a scratch
/// folder per page, with <c>onnxsteer</c> on PATH and <c>../shared</c> beside it; a block that fails, or uses a path no
/// step made, fails the page. Blocks that cannot run carry <c>&lt;!-- docs-test: illustrative: REASON --&gt;</c> on the
/// line before their fence. The rules are written in docs/testing.md ("Executable documentation").
/// </summary>
public sealed class DocsCommandTests
{
    /// <summary>The README's outputs that every docs page may use (docs/testing.md lists them).</summary>
    private static readonly string[] ReadmeOutputs = ["models/s260k", "pairs.jsonl", "profile.json", "models/s260k-happy"];

    private static readonly Lazy<string> Scratch = new(MakeScratch);
    private static readonly Lazy<string> ReadmeRun = new(() => RunPageOnce("README.md"));

    public static TheoryData<string> Pages()
    {
        var pages = new TheoryData<string>();
        foreach (var page in AllPages()) pages.Add(page);
        return pages;
    }

    private static IEnumerable<string> AllPages() =>
        new[] { "README.md" }.Concat(Directory.EnumerateFiles(Path.Combine(SharedData.RepoRoot, "docs"), "*.md")
            .Select(p => "docs/" + Path.GetFileName(p)).Order(StringComparer.Ordinal));

    [SharedTheory]
    [MemberData(nameof(Pages))]
    public void Every_shell_block_of_the_page_runs(string page)
    {
        var failures = page == "README.md" ? ReadmeRun.Value : RunPage(page, seed: true);
        Assert.True(failures.Length == 0, failures);
    }

    /// <summary>The bound README.md states: the steered model's perplexity on neutral stories, over the vanilla model's.</summary>
    private const double PerplexityBound = 1.15;

    /// <summary>
    /// The first thing a user steers must work (issue 30): the README walkthrough's model (the CLI's defaults) writes
    /// more happy words than the vanilla model on make demo's 20 held-out openings, and stays fluent.
    /// </summary>
    [SharedFact]
    public void The_readme_walkthrough_steers_visibly_and_stays_fluent()
    {
        var failures = ReadmeRun.Value;
        Assert.True(failures.Length == 0, failures);
        var dir = Path.Combine(Scratch.Value, "README");
        var demo = File.ReadAllText(Path.Combine(SharedData.RepoRoot, "tests", "scripts", "demo.sh"));
        var prompts = Regex.Match(demo, "<<'PROMPTS'\n(.*?)\nPROMPTS", RegexOptions.Singleline).Groups[1].Value;
        Assert.Equal(20, prompts.Split('\n').Length);
        File.WriteAllText(Path.Combine(dir, "measure-prompts.txt"), prompts + "\n");
        File.WriteAllText(Path.Combine(dir, "measure-pairs.jsonl"),
            "{\"prompt\": \"Zoe found a lost puppy in the rain. Zoe felt very\", \"positive\": \" happy and\", \"negative\": \" sad and\"}\n");
        var compare = CliProcess.Run(dir, "compare", "models/s260k", "models/s260k-happy", "--prompts", "measure-prompts.txt",
            "--max-new-tokens", "30", "--count", "happy,glad,smiled,smile", "--json");
        Assert.True(compare.Code == 0, compare.Stderr);
        var counts = System.Text.Json.JsonDocument.Parse(compare.Stdout).RootElement.GetProperty("counts")[0];
        var (vanillaHits, steeredHits) = (counts.GetProperty("vanillaHits").GetInt32(), counts.GetProperty("steeredHits").GetInt32());
        var eval = CliProcess.Run(dir, "eval", "models/s260k", "--task", "pairs", "--data", "measure-pairs.jsonl", "--against", "models/s260k-happy", "--json", "-q");
        Assert.True(eval.Code == 0, eval.Stderr);
        var e = System.Text.Json.JsonDocument.Parse(eval.Stdout).RootElement;
        var (vanillaPpl, steeredPpl) = (e.GetProperty("model").GetProperty("fluency").GetProperty("perplexity").GetDouble(),
            e.GetProperty("against").GetProperty("fluency").GetProperty("perplexity").GetDouble());
        var measured = $"happy words {vanillaHits} -> {steeredHits}, perplexity {vanillaPpl:0.###} -> {steeredPpl:0.###}";
        Assert.True(steeredHits > vanillaHits, "not steered: " + measured);
        Assert.True(steeredPpl <= PerplexityBound * vanillaPpl, $"not fluent (bound {PerplexityBound}x): " + measured);
        // A normal run prints no sign or tie warning.
        Assert.DoesNotContain("warning:", File.ReadAllText(Path.Combine(dir, ".stderr")));
    }

    [Fact]
    public void Every_page_keeps_the_block_rules()
    {
        var problems = new List<string>();
        foreach (var page in AllPages())
            foreach (var block in MarkdownBlocks.Parse(File.ReadAllText(Path.Combine(SharedData.RepoRoot, page))))
                if (block.Problem is { } p) problems.Add($"{page}:{block.Line}: {p}");
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public void The_parser_finds_shell_blocks_markers_transcripts_and_hidden_commands()
    {
        const string md = """
            text
            ```
            onnxsteer inspect m
            ```
            <!-- docs-test: illustrative: synopsis -->
            ```sh
            onnxsteer patch MODEL P -o OUT
            ```
            <!-- docs-test: exit 3 -->
            ```console
            $ onnxsteer inspect nothere \
                --json
            onnxsteer: error: nothere: no such file or folder
            ```
            ```text
            onnxsteer generate m --prompt x
            ```
            ```csharp
            var x = 1;
            ```
            <!-- docs-test: illustrative -->
            ```bash
            true
            ```
            """;
        var blocks = MarkdownBlocks.Parse(md);
        Assert.Equal(6, blocks.Count);
        Assert.True(blocks[0].Runs);
        Assert.Equal("onnxsteer inspect m\n", blocks[0].Script);
        Assert.False(blocks[1].Runs);
        Assert.Equal("synopsis", blocks[1].Illustrative);
        Assert.True(blocks[2].Runs);
        Assert.Equal(3, blocks[2].ExpectedExit);
        Assert.Equal("onnxsteer inspect nothere \\\n    --json\n", blocks[2].Script);
        Assert.NotNull(blocks[3].Problem);
        Assert.False(blocks[4].Runs);
        Assert.Null(blocks[4].Problem);
        Assert.NotNull(blocks[5].Problem); // illustrative without a reason
    }

    private static string RunPageOnce(string page) => RunPage(page, seed: false);

    /// <summary>Runs <paramref name="page"/>'s blocks; returns the failures as text (empty: all passed).</summary>
    private static string RunPage(string page, bool seed)
    {
        var dir = Path.Combine(Scratch.Value, page.Replace('/', '_').Replace(".md", ""));
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        if (seed)
        {
            var readmeDir = Path.Combine(Scratch.Value, "README");
            var readmeFailures = ReadmeRun.Value;
            if (readmeFailures.Length > 0) return "the README walkthrough failed, so its outputs are missing:\n" + readmeFailures;
            foreach (var name in ReadmeOutputs) Copy(Path.Combine(readmeDir, name), Path.Combine(dir, name));
        }
        var failures = new StringBuilder();
        var blocks = MarkdownBlocks.Parse(File.ReadAllText(Path.Combine(SharedData.RepoRoot, page)));
        foreach (var block in blocks.Where(b => b.Runs))
        {
            var script = Path.Combine(Scratch.Value, $".block-{Guid.NewGuid():N}.sh");
            File.WriteAllText(script, block.Script);
            var (code, stdout, stderr, timedOut) = Bash(script, dir);
            File.Delete(script);
            File.AppendAllText(Path.Combine(dir, ".stderr"), stderr);
            if (code == block.ExpectedExit && !timedOut) continue;
            failures.Append($"{page}:{block.Line}: exited {(timedOut ? "(timed out after 120 s)" : code.ToString())}, expected {block.ExpectedExit}\n")
                .Append(Indent(block.Script)).Append("--- stdout (end)\n").Append(Indent(Tail(stdout)))
                .Append("--- stderr (end)\n").Append(Indent(Tail(stderr)));
            break; // later blocks depend on this one
        }
        return failures.ToString();
    }

    private static (int Code, string Stdout, string Stderr, bool TimedOut) Bash(string script, string dir)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false, WorkingDirectory = dir };
        psi.ArgumentList.Add("-euo");
        psi.ArgumentList.Add("pipefail");
        psi.ArgumentList.Add(script);
        psi.Environment["PATH"] = Path.Combine(Scratch.Value, "bin") + ":" + Environment.GetEnvironmentVariable("PATH");
        psi.Environment["NO_COLOR"] = "1";
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            return (-1, stdout.Result, stderr.Result, true);
        }
        return (p.ExitCode, stdout.Result, stderr.Result, false);
    }

    /// <summary>T/bin/onnxsteer (the built CLI), T/shared (the shared data): pages run in T/&lt;page&gt;, so ../shared resolves.</summary>
    private static string MakeScratch()
    {
        var root = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"onnxsteer-docs-{Guid.NewGuid():N}")).FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        Directory.CreateSymbolicLink(Path.Combine(root, "shared"), SharedData.Path());
        var bin = Directory.CreateDirectory(Path.Combine(root, "bin")).FullName;
        var wrapper = Path.Combine(bin, "onnxsteer");
        File.WriteAllText(wrapper, $"#!/bin/sh\nexec {string.Join(' ', CliProcess.Command.Select(c => $"'{c}'"))} \"$@\"\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return root;
    }

    private static void Copy(string from, string to)
    {
        if (File.Exists(from))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(from, to);
            return;
        }
        if (!Directory.Exists(from)) throw new DirectoryNotFoundException($"the README walkthrough made no {from}");
        Directory.CreateDirectory(to);
        foreach (var entry in Directory.EnumerateFileSystemEntries(from)) Copy(entry, Path.Combine(to, Path.GetFileName(entry)));
    }

    private static string Tail(string text) => text.Length <= 3000 ? text : "…" + text[^3000..];
    private static string Indent(string text) => string.Concat(text.Split('\n').Where(l => l.Length > 0).Select(l => "    " + l + "\n"));
}

/// <summary>A fenced block of a Markdown page, as the docs runner sees it.</summary>
/// <param name="Line">1-based line of the opening fence.</param>
/// <param name="Info">The fence's info string (first word, lower case).</param>
/// <param name="Script">What runs: the block, or in a transcript its <c>$ </c> lines (with their continuations).</param>
/// <param name="Illustrative">The marker's reason when the block is illustrative.</param>
/// <param name="ExpectedExit">The exit status the block must end with.</param>
/// <param name="Problem">A broken rule (command hidden in a text block, marker without a reason, unknown marker).</param>
internal sealed record MarkdownBlock(int Line, string Info, string Script, string? Illustrative, int ExpectedExit, string? Problem)
{
    public static readonly string[] ShellInfos = ["", "sh", "bash", "shell", "console"];
    public static readonly string[] CodeInfos = ["csharp", "cs", "c#", "python", "py", "js", "javascript", "json", "jsonl", "yaml", "yml", "xml", "toml", "proto"];

    public bool IsShell => ShellInfos.Contains(Info);
    public bool Runs => IsShell && Illustrative is null && Problem is null;
}

internal static partial class MarkdownBlocks
{
    [GeneratedRegex(@"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")]
    private static partial Regex Marker();

    [GeneratedRegex(@"^(\s*)(`{3,}|~{3,})\s*([^\s`]*)")]
    private static partial Regex Fence();

    public static List<MarkdownBlock> Parse(string markdown)
    {
        var lines = markdown.Replace("\r\n", "\n").Split('\n');
        var blocks = new List<MarkdownBlock>();
        for (var i = 0; i < lines.Length; i++)
        {
            var open = Fence().Match(lines[i]);
            if (!open.Success) continue;
            var (indent, fence, info) = (open.Groups[1].Value.Length, open.Groups[2].Value, open.Groups[3].Value.ToLowerInvariant());
            var body = new List<string>();
            var j = i + 1;
            for (; j < lines.Length && !lines[j].TrimStart().StartsWith(fence, StringComparison.Ordinal); j++)
                body.Add(lines[j].Length >= indent && lines[j][..indent].Trim().Length == 0 ? lines[j][indent..] : lines[j]);
            var marker = i > 0 ? Marker().Match(lines[i - 1]) : Match.Empty;
            blocks.Add(Make(i + 1, info, body, marker.Success ? marker.Groups[1].Value : null));
            i = j;
        }
        return blocks;
    }

    private static MarkdownBlock Make(int line, string info, List<string> body, string? marker)
    {
        string? illustrative = null, problem = null;
        var exit = 0;
        if (marker is not null)
        {
            var m = Regex.Match(marker, @"^illustrative(?::\s*(.*))?$");
            var e = Regex.Match(marker, @"^exit\s+(\d+)$");
            if (m.Success)
            {
                illustrative = m.Groups[1].Value.Trim();
                if (illustrative.Length == 0) problem = "an illustrative marker needs a reason: <!-- docs-test: illustrative: REASON -->";
            }
            else if (e.Success) exit = int.Parse(e.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            else problem = $"unknown docs-test marker '{marker}' (illustrative: REASON, or exit N)";
        }
        var shell = MarkdownBlock.ShellInfos.Contains(info);
        if (!shell && !MarkdownBlock.CodeInfos.Contains(info)
            && body.FirstOrDefault(l => l.StartsWith("onnxsteer ", StringComparison.Ordinal) || l.StartsWith("$ ", StringComparison.Ordinal)) is { } hidden)
            problem = $"a command in a ```{info} block ('{hidden}'): put commands in a shell block (```sh), run or marked illustrative";
        return new MarkdownBlock(line, info, shell ? Script(body) : "", illustrative, exit, problem);
    }

    /// <summary>The block itself, or in a transcript (some line starts with <c>$ </c>) only those lines and their continuations.</summary>
    private static string Script(List<string> body)
    {
        if (!body.Any(l => l.StartsWith("$ ", StringComparison.Ordinal))) return string.Concat(body.Select(l => l + "\n"));
        var script = new StringBuilder();
        var continuing = false;
        foreach (var l in body)
        {
            if (l.StartsWith("$ ", StringComparison.Ordinal) || continuing)
            {
                script.Append(continuing ? l : l[2..]).Append('\n');
                continuing = l.EndsWith('\\');
            }
        }
        return script.ToString();
    }
}
