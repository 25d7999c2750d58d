using System.CommandLine;
using OnnxSteer.Cli;
using OnnxSteer.Tests.Hardening;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Cli;

/// <summary>
/// The CLI's error contract, for every subcommand of the root command (found the way the CLI finds them): an unknown
/// option, a missing input file, and a directory where a file is expected each give exactly one line on stderr, no
/// stack trace, no escape codes (stderr is a pipe here), and a documented non-zero exit code (parse errors:
/// <see cref="ExitCodes.Usage"/>). Siblings in this folder hold the rest of the contract (docs/errors.md).
/// </summary>
public sealed class CliContractTests(ITestOutputHelper output)
{
    private static readonly int[] InputErrorCodes = [ExitCodes.Failure, ExitCodes.InvalidInput, ExitCodes.Runtime];

    [Fact]
    public void Every_command_reports_bad_command_lines_and_bad_paths_in_one_line_with_a_documented_exit_code()
    {
        using var dir = new Patching.TempDir();
        var missing = dir["no-such-file.onnx"];
        var folder = Directory.CreateDirectory(dir["a-folder"]).FullName;
        // Leaf commands with the words that reach them (e.g. "import llama2c").
        var commands = Leaves(CliApp.BuildRoot(), []).OrderBy(c => c.Words, StringComparer.Ordinal).ToList();
        Assert.Contains(commands, c => c.Words == "patch");
        Assert.Contains(commands, c => c.Words == "repack");

        var cases = new List<(string Name, string[] Args, int[] Codes)>();
        foreach (var (words, command) in commands)
        {
            var outDir = dir[$"out-{words.Replace(' ', '-')}"];
            var prefix = words.Split(' ');
            var withMissing = CommandLine(prefix, command, missing, outDir);
            // A variadic file argument (merge PROFILES...) receives "--no-such-option" as one more value; the command
            // must still call it an unknown option (exit 64), not a missing file.
            cases.Add(($"{words} --no-such-option", (withMissing ?? CommandLine(prefix, command, "x", outDir, anyArity: true)!).Append("--no-such-option").ToArray(),
                new[] { ExitCodes.Usage }));
            if (withMissing is null) continue; // the command reads no input file (e.g. synth)
            cases.Add(($"{words} <missing file>", withMissing, InputErrorCodes));
            cases.Add(($"{words} <directory>", CommandLine(prefix, command, folder, outDir)!, InputErrorCodes));
        }

        var failures = new List<string>();
        Parallel.ForEach(cases, new ParallelOptions { MaxDegreeOfParallelism = 3 }, c =>
        {
            var (code, stderr) = CrashSafetyTests.RunToEnd(c.Args);
            // Usage errors end with a pointer to --help ("Try 'onnxsteer patch --help'."); the error itself is one line.
            var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(l => !(code == ExitCodes.Usage && l.StartsWith("Try '", StringComparison.Ordinal))).ToArray();
            string? problem = null;
            if (!c.Codes.Contains(code)) problem = $"exit code {code}, expected one of {string.Join("/", c.Codes)}";
            else if (lines.Length != 1) problem = $"{lines.Length} lines on stderr";
            else if (stderr.Contains("   at ", StringComparison.Ordinal) || stderr.Contains("internal error", StringComparison.Ordinal))
                problem = "a stack trace or internal error";
            else if (stderr.Contains('\u001b')) problem = "escape codes on a stderr that is not a terminal";
            else if (!lines[0].StartsWith("onnxsteer: error: ", StringComparison.Ordinal)) problem = "not the contract's 'onnxsteer: error: ' form";
            lock (failures)
            {
                output.WriteLine($"{c.Name}: exit {code}: {lines.FirstOrDefault()}");
                if (problem is not null) failures.Add($"{c.Name} ({string.Join(' ', c.Args)}): {problem}: {stderr.Trim()}");
            }
        });
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>
    /// A command line that satisfies the parser: every argument and every required option gets a value, input paths
    /// are <paramref name="input"/>, --output goes to <paramref name="outDir"/>. Null when the command takes no input path.
    /// </summary>
    private static string[]? CommandLine(string[] words, Command command, string input, string outDir, bool anyArity = false)
    {
        var args = new List<string>(words);
        var readsInput = false;
        foreach (var argument in command.Arguments)
        {
            if (argument.ValueType == typeof(string)) { args.Add(input); readsInput = true; }
            else if (argument.ValueType == typeof(string[])) { args.AddRange(new[] { input, input }); readsInput = true; }
            else args.Add("1");
        }
        // Input files given by option (profile --pairs) count as required: without them the command stops at usage.
        foreach (var option in command.Options.Where(o => o.Required || o.Name is "--pairs"))
        {
            args.Add(option.Name);
            if (option.Name == "--output") args.Add(Path.Combine(outDir, "out.onnx"));
            else if (option.Name == "--task") args.Add("copa"); // a task name, not a file (eval)
            else if (option.ValueType == typeof(string)) { args.Add(input); readsInput |= option.Name is "--tokenizer" or "--pairs" or "--profile"; }
            else args.Add("4");
        }
        return readsInput || anyArity ? args.ToArray() : null;
    }

    private static IEnumerable<(string Words, Command Command)> Leaves(Command command, string[] path)
    {
        foreach (var sub in command.Subcommands)
        {
            string[] words = [.. path, sub.Name];
            if (sub.Subcommands.Count == 0) yield return (string.Join(' ', words), sub);
            else foreach (var leaf in Leaves(sub, words)) yield return leaf;
        }
    }
}
