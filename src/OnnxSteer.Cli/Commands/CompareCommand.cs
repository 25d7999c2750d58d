using System.CommandLine;
using System.Text.Json;
using OnnxSteer.Diffing;
using OnnxSteer.Generation;
using OnnxSteer.IO;
using OnnxSteer.Tokenizers;
using Spectre.Console;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer compare</c>: greedy continuations of two models side by side, with word counts.</summary>
public sealed class CompareCommand : ICliCommand
{
    public Command Build()
    {
        var vanilla = new Argument<string>("vanilla") { Description = "The original model (folder with model.onnx, or the .onnx file)." };
        var steered = new Argument<string>("steered") { Description = "The steered model written by 'onnxsteer patch'." };
        var prompts = new Option<string>("--prompts") { Description = "A text file with one prompt per line (blank lines ignored).", Required = true, HelpName = "FILE" };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Tokens to generate per prompt (greedy).", DefaultValueFactory = _ => 30, HelpName = "N" };
        var count = new Option<string[]>("--count")
        {
            Description = "A group of words to count in the continuations, comma-separated (e.g. dog,dogs,puppy). Repeat for several groups.",
            AllowMultipleArgumentsPerToken = false,
            HelpName = "WORDS",
        };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json or its folder (default: the vanilla model's folder).", HelpName = "PATH" };
        var json = new Option<string?>("--json")
        {
            Description = "Print the continuations and counts as JSON (schema onnxsteer.compare/1) instead of the table.",
            // Zero or one value: a bare --json is the flag every command has; '--json FILE' is the old way to write the file (-o now).
            Arity = ArgumentArity.ZeroOrOne,
        };
        var output = new Option<string?>("--output", "-o") { Description = "Also write the continuations and counts as JSON to this file.", HelpName = "FILE" };
        var force = OutputChecks.ForceOption();
        var runtime = new RuntimeOptions();
        var command = new Command("compare", "Generate greedily from two models (vanilla and steered) on the same prompts and show the continuations side by side, with how often chosen words appear in each.");
        command.Arguments.Add(vanilla);
        command.Arguments.Add(steered);
        var strength = new StrengthOption();
        strength.Option.Description = "For a STEERED model patched with --switchable: scale its steering by S (1 = as patched, 0 = off).";
        foreach (var o in new Option[] { prompts, maxNew, count, tokenizer, json, output, force, strength.Option }) command.Options.Add(o);
        runtime.AddTo(command);
        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var printJson = parse.GetResult(json) is { Implicit: false };
            var jsonFile = parse.GetValue(output) ?? parse.GetValue(json);
            if (parse.GetValue(output) is not null && parse.GetValue(json) is not null)
                throw new CommandLineException("--json FILE is the old spelling of -o FILE: give -o FILE (and --json alone to print JSON)", ExitCodes.Usage);
            if (parse.GetValue(json) is not null) printJson = false;
            if (jsonFile is not null) OutputChecks.File(jsonFile, parse.GetValue(force));
            var promptFile = parse.GetValue(prompts)!;
            if (!File.Exists(promptFile)) throw new CommandLineException($"{promptFile}: no such file", ExitCodes.InvalidInput);
            var lines = File.ReadAllLines(promptFile).Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToList();
            if (lines.Count == 0) throw new CommandLineException($"{promptFile}: no prompts in the file", ExitCodes.InvalidInput);
            var groups = (parse.GetValue(count) ?? [])
                .Select(g => (IReadOnlyList<string>)g.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                .Where(g => g.Count > 0).ToList();
            var settings = runtime.Read(parse);
            var vanillaPath = parse.GetValue(vanilla)!;
            ModelSniff.RefuseNonOnnx(vanillaPath);
            ModelSniff.RefuseNonOnnx(parse.GetValue(steered)!);
            var tok = TokenizerLoader.Load(parse.GetValue(tokenizer) ?? ModelFolder(vanillaPath));
            using var a = DecoderModel.Open(vanillaPath, settings);
            using var b = DecoderModel.Open(parse.GetValue(steered)!, settings);
            using var strengthValue = strength.Apply(parse, b);
            // Tables on a terminal; plain lines in a pipe or a file, where box drawing is noise.
            var plain = ConsoleStyle.PlainOut;
            var report = SideBySide.Run(a, b, tok, lines, parse.GetValue(maxNew), groups, pair => { if (!printJson) Print(pair, plain); });
            var text = JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase });
            if (printJson) Console.Out.WriteLine(text);
            else PrintCounts(report, plain);
            if (jsonFile is not null) AtomicFile.WriteAllText(jsonFile, text);
            return 0;
        }));
        return command;
    }

    private static string ModelFolder(string path) => Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;

    private static void Print(ContinuationPair pair, bool plain)
    {
        if (plain)
        {
            Console.Out.WriteLine($"{pair.Prompt}\n  vanilla: {pair.Vanilla.Trim()}\n  steered: {pair.Steered.Trim()}");
            return;
        }
        var table = new Table().Border(TableBorder.Rounded).Expand();
        table.AddColumn(new TableColumn("[grey]vanilla[/]"));
        table.AddColumn(new TableColumn("[green]steered[/]"));
        table.AddRow(Markup.Escape(pair.Vanilla.Trim()), Markup.Escape(pair.Steered.Trim()));
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(pair.Prompt)}[/]");
        AnsiConsole.Write(table);
    }

    private static void PrintCounts(SideBySideReport report, bool plain)
    {
        if (report.Counts.Count == 0) return;
        if (plain)
        {
            Console.Out.WriteLine($"word counts over {report.Pairs.Count} greedy continuations of {report.MaxNewTokens} tokens: hits (prompts)");
            foreach (var c in report.Counts)
                Console.Out.WriteLine($"  {string.Join(", ", c.Words)}: vanilla {c.VanillaHits} ({c.VanillaPrompts}/{report.Pairs.Count}), steered {c.SteeredHits} ({c.SteeredPrompts}/{report.Pairs.Count})");
            return;
        }
        var table = new Table().Border(TableBorder.Simple);
        table.AddColumn("words");
        table.AddColumn(new TableColumn("vanilla: hits (prompts)").RightAligned());
        table.AddColumn(new TableColumn("steered: hits (prompts)").RightAligned());
        foreach (var c in report.Counts)
            table.AddRow(Markup.Escape(string.Join(", ", c.Words)),
                $"{c.VanillaHits} ({c.VanillaPrompts}/{report.Pairs.Count})",
                $"{c.SteeredHits} ({c.SteeredPrompts}/{report.Pairs.Count})");
        AnsiConsole.MarkupLine($"[bold]Word counts over {report.Pairs.Count} greedy continuations of {report.MaxNewTokens} tokens[/]");
        AnsiConsole.Write(table);
    }
}
