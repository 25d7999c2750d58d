using System.CommandLine;
using OnnxSteer.Cli.Options;
using OnnxSteer.Cli.Reports;
using OnnxSteer.Diffing;
using OnnxSteer.IO;
using OnnxSteer.Runtime;
using OnnxSteer.Tokenizers;
using Spectre.Console;

namespace OnnxSteer.Cli.Commands;

/// <summary>What <c>onnxsteer diff</c> was asked; <see cref="Prompt"/> null: no run of the models.</summary>
internal sealed record DiffOptions(string Original, string Patched, bool Json, string? Output, int MaxItems, string? Prompt, string? Tokenizer,
    int Generate, bool Force, RuntimeSettings Runtime);

/// <summary><c>onnxsteer diff A B</c>: what changed between two models, structurally and numerically. Exit 0 identical, 1 different; errors as every command.</summary>
internal sealed class DiffCommand : CliCommand<DiffOptions>
{
    private readonly Argument<string> _original = new("original") { Description = "The original model (.onnx file, or a folder holding model.onnx)." };
    private readonly Argument<string> _patched = new("patched") { Description = "The changed (e.g. steered) model." };
    private readonly Option<string?> _variant = CommonOptions.Variant();
    private readonly Option<bool> _json = CommonOptions.Json("Print the report as JSON (schema: README, \"diff --json schema\") instead of text.");
    private readonly Option<string?> _output = CommonOptions.OptionalOutput("Also write the JSON report to this file.");
    private readonly Option<int> _maxItems = new("--max-items") { Description = "Show at most this many entries per section in the text report (JSON lists all).", DefaultValueFactory = _ => 40 };
    private readonly Option<string?> _prompt = new("--prompt")
    {
        Description = "Also run both models on this text and compare the next-token distributions (top-5 of each, KL(A||B), max |delta logit|).",
        HelpName = "TEXT",
    };
    private readonly Option<string?> _tokenizer = CommonOptions.Tokenizer(
        "Tokenizer for --prompt: a tokenizer.json, a llama2.c tok*.bin, or a folder holding one. Default: the one beside the original model.");
    private readonly Option<int> _generate = new Option<int>("--generate")
    {
        Description = "With --prompt: also generate N tokens greedily with each model and show both continuations.",
        HelpName = "N",
    }.AtLeast(0);
    private readonly Option<bool> _force = CommonOptions.Force();
    private readonly RuntimeOptions _runtime = new();

    protected override Command Declare() => _runtime.AddedTo(Define("diff",
        "Show what changed between two ONNX models: nodes, edges, initializers (with value statistics), inputs/outputs, " +
        "opsets and metadata, plus a steering summary when the second model is a steered copy of the first. " +
        "Exit status: 0 identical, 1 different; errors as every command (3 a bad model, 2 I/O, 64 usage).",
        _original, _patched, _variant, _json, _output, _maxItems, _prompt, _tokenizer, _generate, _force));

    protected override DiffOptions Bind(ParseResult parse)
    {
        if (parse.GetValue(_prompt) is null && (parse.GetValue(_generate) > 0 || parse.GetValue(_tokenizer) is not null))
            throw new CommandLineException("--generate and --tokenizer need --prompt");
        return new(CommonOptions.ModelInFolder(parse.GetValue(_original)!, parse.GetValue(_variant)), CommonOptions.ModelInFolder(parse.GetValue(_patched)!, parse.GetValue(_variant)), parse.GetValue(_json), parse.GetValue(_output), parse.GetValue(_maxItems),
            parse.GetValue(_prompt), parse.GetValue(_tokenizer), parse.GetValue(_generate), parse.GetValue(_force), _runtime.Read(parse));
    }

    public override int Run(DiffOptions o, CommandIo io)
    {
        if (o.Output is { } reportPath) OutputChecks.File(reportPath, o.Force);
        var report = ModelDiffer.Compare(o.Original, o.Patched);
        if (o.Prompt is { } text)
        {
            var tok = TokenizerLoader.Load(o.Tokenizer ?? CommonOptions.ModelFolder(o.Original));
            report = report with { Prompt = PromptComparer.Compare(o.Original, o.Patched, tok, text, o.Generate, o.Runtime with { Notice = io.Notice }) };
        }
        if (o.Output is { } path) AtomicFile.WriteAllText(path, DiffJson.Serialize(report));
        if (o.Json) io.Out.Write(DiffJson.Serialize(report));
        else Print(io, DiffText.Render(report, Math.Max(1, o.MaxItems), ErrorReporter.Option));
        return report.Identical ? ExitCodes.Success : ExitCodes.Different;
    }

    /// <summary>Coloured through Spectre.Console on a terminal; plain lines, unwrapped, when redirected or asked.</summary>
    private static void Print(CommandIo io, IReadOnlyList<DiffLine> lines)
    {
        if (io.PlainOut)
        {
            foreach (var line in lines) io.Out.WriteLine(line.Text);
            return;
        }
        var console = io.Styled();
        foreach (var line in lines) console.MarkupLine(Styled(line));
    }

    private static string Styled(DiffLine line)
    {
        var text = Markup.Escape(line.Text);
        return line.Style switch
        {
            DiffStyle.Title => $"[bold]{text}[/]",
            DiffStyle.Heading => $"[bold underline]{text}[/]",
            DiffStyle.Added or DiffStyle.Same => $"[green]{text}[/]",
            DiffStyle.Removed => $"[red]{text}[/]",
            DiffStyle.Changed => $"[yellow]{text}[/]",
            DiffStyle.Note => $"[grey]{text}[/]",
            _ => text,
        };
    }
}
