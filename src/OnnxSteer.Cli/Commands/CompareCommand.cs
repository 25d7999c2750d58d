using System.CommandLine;
using System.Text.Json;
using OnnxSteer.Cli.Options;
using OnnxSteer.Diffing;
using OnnxSteer.Generation;
using OnnxSteer.IO;
using OnnxSteer.Runtime;
using OnnxSteer.Tokenizers;
using Spectre.Console;

namespace OnnxSteer.Cli.Commands;

/// <summary>What <c>onnxsteer compare</c> was asked: <see cref="JsonFile"/> also gets the report; <see cref="PrintJson"/> prints it instead of text.</summary>
internal sealed record CompareOptions(string Vanilla, string Steered, string Prompts, int MaxNewTokens, IReadOnlyList<IReadOnlyList<string>> Counts,
    string? Tokenizer, bool PrintJson, string? JsonFile, bool Force, float? Strength, RuntimeSettings Runtime);

/// <summary><c>onnxsteer compare</c>: greedy continuations of two models side by side, with word counts.</summary>
internal sealed class CompareCommand : CliCommand<CompareOptions>
{
    private readonly Argument<string> _vanilla = new("vanilla") { Description = "The original model (folder with model.onnx, or the .onnx file)." };
    private readonly Argument<string> _steered = new("steered") { Description = "The steered model written by 'onnxsteer patch'." };
    private readonly Option<string?> _variant = CommonOptions.Variant();
    private readonly Option<string> _prompts = new("--prompts") { Description = "A text file with one prompt per line (blank lines ignored).", Required = true, HelpName = "FILE" };
    private readonly Option<int> _maxNew = new("--max-new-tokens") { Description = "Tokens to generate per prompt (greedy).", DefaultValueFactory = _ => 30, HelpName = "N" };
    private readonly Option<string[]> _count = new("--count")
    {
        Description = "A group of words to count in the continuations, comma-separated (e.g. dog,dogs,puppy). Repeat for several groups.",
        AllowMultipleArgumentsPerToken = false,
        HelpName = "WORDS",
    };
    private readonly Option<string?> _tokenizer = CommonOptions.Tokenizer("tokenizer.json or its folder (default: the vanilla model's folder).");
    private readonly Option<string?> _json = new("--json")
    {
        Description = "Print the continuations and counts as JSON (schema onnxsteer.compare/1) instead of the table.",
        // Zero or one value: a bare --json is the flag every command has; '--json FILE' is the old way to write the file (-o now).
        Arity = ArgumentArity.ZeroOrOne,
    };
    private readonly Option<string?> _output = CommonOptions.OptionalOutput("Also write the continuations and counts as JSON to this file.", "FILE");
    private readonly Option<bool> _force = CommonOptions.Force();
    private readonly StrengthOption _strength = new("For a STEERED model patched with --switchable: scale its steering by S (1 = as patched, 0 = off).");
    private readonly RuntimeOptions _runtime = new();

    protected override Command Declare() => _runtime.AddedTo(Define("compare",
        "Generate greedily from two models (vanilla and steered) on the same prompts and show the continuations side by side, with how often chosen words appear in each.",
        _vanilla, _steered, _variant, _prompts, _maxNew, _count, _tokenizer, _json, _output, _force, _strength.Option));

    protected override CompareOptions Bind(ParseResult parse)
    {
        var (output, oldJsonFile) = (parse.GetValue(_output), parse.GetValue(_json));
        if (output is not null && oldJsonFile is not null)
            throw new CommandLineException("--json FILE is the old spelling of -o FILE: give -o FILE (and --json alone to print JSON)", ExitCodes.Usage);
        var printJson = parse.GetResult(_json) is { Implicit: false } && oldJsonFile is null;
        var groups = (parse.GetValue(_count) ?? [])
            .Select(g => (IReadOnlyList<string>)g.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Where(g => g.Count > 0).ToList();
        return new(CommonOptions.ModelInFolder(parse.GetValue(_vanilla)!, parse.GetValue(_variant)), CommonOptions.ModelInFolder(parse.GetValue(_steered)!, parse.GetValue(_variant)), parse.GetValue(_prompts)!, parse.GetValue(_maxNew), groups,
            parse.GetValue(_tokenizer), printJson, output ?? oldJsonFile, parse.GetValue(_force), _strength.Read(parse), _runtime.Read(parse));
    }

    public override int Run(CompareOptions o, CommandIo io)
    {
        if (o.JsonFile is not null) OutputChecks.File(o.JsonFile, o.Force);
        var lines = ReadPrompts(o.Prompts);
        var settings = o.Runtime with { Notice = io.Notice };
        ModelSniff.RefuseNonOnnx(o.Vanilla);
        ModelSniff.RefuseNonOnnx(o.Steered);
        var tok = TokenizerLoader.Load(o.Tokenizer ?? CommonOptions.ModelFolder(o.Vanilla));
        using var a = DecoderModel.Open(o.Vanilla, settings);
        using var b = DecoderModel.Open(o.Steered, settings);
        using var strengthValue = StrengthOption.Apply(o.Strength, b);
        var report = SideBySide.Run(a, b, tok, lines, o.MaxNewTokens, o.Counts, pair => { if (!o.PrintJson) Print(io, pair); });
        var text = JsonSerializer.Serialize(report, ReportJson);
        if (o.PrintJson) io.Out.WriteLine(text);
        else PrintCounts(io, report);
        if (o.JsonFile is not null) AtomicFile.WriteAllText(o.JsonFile, text);
        return ExitCodes.Success;
    }

    // Compile-time metadata (CompareJsonContext): the Native AOT executable (`make tool`) cannot build serializers for
    // records of value types at run time.
    private static readonly JsonSerializerOptions ReportJson = new()
    {
        WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, TypeInfoResolver = CompareJsonContext.Default,
    };

    private static List<string> ReadPrompts(string promptFile)
    {
        if (!File.Exists(promptFile)) throw new CommandLineException($"{promptFile}: no such file", ExitCodes.InvalidInput);
        var lines = File.ReadAllLines(promptFile).Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToList();
        return lines.Count > 0 ? lines : throw new CommandLineException($"{promptFile}: no prompts in the file", ExitCodes.InvalidInput);
    }

    /// <summary>A table on a terminal; plain lines in a pipe or a file, where box drawing is noise.</summary>
    private static void Print(CommandIo io, ContinuationPair pair)
    {
        if (io.PlainOut)
        {
            io.Out.WriteLine($"{pair.Prompt}\n  vanilla: {pair.Vanilla.Trim()}\n  steered: {pair.Steered.Trim()}");
            return;
        }
        var table = new Table().Border(TableBorder.Rounded).Expand();
        table.AddColumn(new TableColumn("[grey]vanilla[/]"));
        table.AddColumn(new TableColumn("[green]steered[/]"));
        table.AddRow(Markup.Escape(pair.Vanilla.Trim()), Markup.Escape(pair.Steered.Trim()));
        var console = io.Styled();
        console.MarkupLine($"[bold]{Markup.Escape(pair.Prompt)}[/]");
        console.Write(table);
    }

    private static void PrintCounts(CommandIo io, SideBySideReport report)
    {
        if (report.Counts.Count == 0) return;
        var n = report.Pairs.Count;
        if (io.PlainOut)
        {
            io.Out.WriteLine($"word counts over {n} greedy continuations of {report.MaxNewTokens} tokens: hits (prompts)");
            foreach (var c in report.Counts)
                io.Out.WriteLine($"  {string.Join(", ", c.Words)}: vanilla {c.VanillaHits} ({c.VanillaPrompts}/{n}), steered {c.SteeredHits} ({c.SteeredPrompts}/{n})");
            return;
        }
        var table = new Table().Border(TableBorder.Simple);
        table.AddColumn("words");
        table.AddColumn(new TableColumn("vanilla: hits (prompts)").RightAligned());
        table.AddColumn(new TableColumn("steered: hits (prompts)").RightAligned());
        foreach (var c in report.Counts)
            table.AddRow(Markup.Escape(string.Join(", ", c.Words)), $"{c.VanillaHits} ({c.VanillaPrompts}/{n})", $"{c.SteeredHits} ({c.SteeredPrompts}/{n})");
        var console = io.Styled();
        console.MarkupLine($"[bold]Word counts over {n} greedy continuations of {report.MaxNewTokens} tokens[/]");
        console.Write(table);
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(SideBySideReport))]
internal sealed partial class CompareJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
