using System.CommandLine;
using OnnxSteer.Diffing;
using OnnxSteer.IO;
using OnnxSteer.Tokenizers;
using Spectre.Console;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer diff A B</c>: what changed between two models, structurally and numerically. Exit 0 identical, 1 different; errors as every command.</summary>
public sealed class DiffCommand : ICliCommand
{
    public Command Build()
    {
        var original = new Argument<string>("original") { Description = "The original model (.onnx file, or a folder holding model.onnx)." };
        var patched = new Argument<string>("patched") { Description = "The changed (e.g. steered) model." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON (schema: README, \"diff --json schema\") instead of text." };
        var output = new Option<string?>("--output", "-o") { Description = "Also write the JSON report to this file." };
        var maxItems = new Option<int>("--max-items")
        {
            Description = "Show at most this many entries per section in the text report (JSON lists all).",
            DefaultValueFactory = _ => 40,
        };
        var prompt = new Option<string?>("--prompt")
        {
            Description = "Also run both models on this text and compare the next-token distributions (top-5 of each, KL(A||B), max |delta logit|).",
            HelpName = "TEXT",
        };
        var tokenizer = new Option<string?>("--tokenizer")
        {
            Description = "Tokenizer for --prompt: a tokenizer.json, a llama2.c tok*.bin, or a folder holding one. Default: the one beside the original model.",
            HelpName = "PATH",
        };
        var generate = new Option<int>("--generate")
        {
            Description = "With --prompt: also generate N tokens greedily with each model and show both continuations.",
            HelpName = "N",
        };

        var command = new Command("diff",
            "Show what changed between two ONNX models: nodes, edges, initializers (with value statistics), inputs/outputs, " +
            "opsets and metadata, plus a steering summary when the second model is a steered copy of the first. " +
            "Exit status: 0 identical, 1 different; errors as every command (3 a bad model, 2 I/O, 64 usage).");
        command.Arguments.Add(original);
        command.Arguments.Add(patched);
        command.Options.Add(json);
        command.Options.Add(output);
        command.Options.Add(maxItems);
        command.Options.Add(prompt);
        command.Options.Add(tokenizer);
        command.Options.Add(generate);
        var force = OutputChecks.ForceOption();
        command.Options.Add(force);
        var runtime = new RuntimeOptions().AddTo(command);
        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            {
                var (pathA, pathB) = (parse.GetValue(original)!, parse.GetValue(patched)!);
                if (parse.GetValue(prompt) is null && (parse.GetValue(generate) > 0 || parse.GetValue(tokenizer) is not null))
                    throw new CommandLineException("--generate and --tokenizer need --prompt");
                if (parse.GetValue(generate) < 0) throw new CommandLineException("--generate must be 0 or more");
                if (parse.GetValue(output) is { } reportPath) OutputChecks.File(reportPath, parse.GetValue(force));
                var report = ModelDiffer.Compare(pathA, pathB);
                if (parse.GetValue(prompt) is { } text)
                {
                    var tokens = parse.GetValue(generate);
                    var tok = TokenizerLoader.Load(parse.GetValue(tokenizer) ?? ModelFolder(pathA));
                    report = report with { Prompt = PromptComparer.Compare(pathA, pathB, tok, text, tokens, runtime.Read(parse)) };
                }
                if (parse.GetValue(output) is { } path) AtomicFile.WriteAllText(path, DiffJson.Serialize(report));
                if (parse.GetValue(json)) Console.Out.Write(DiffJson.Serialize(report));
                else Print(DiffText.Render(report, Math.Max(1, parse.GetValue(maxItems)), ErrorReporter.Option));
                return report.Identical ? ExitCodes.Success : ExitCodes.Different;
            }
        }));
        return command;
    }

    /// <summary>The folder a model path names or lives in (where its tokenizer is looked for).</summary>
    private static string ModelFolder(string path) => Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;

    /// <summary>Coloured through Spectre.Console on a terminal; plain lines, unwrapped, when redirected or asked.</summary>
    private static void Print(IReadOnlyList<DiffLine> lines)
    {
        if (ConsoleStyle.PlainOut)
        {
            foreach (var line in lines) Console.Out.WriteLine(line.Text);
            return;
        }
        foreach (var line in lines)
        {
            var text = Markup.Escape(line.Text);
            AnsiConsole.MarkupLine(line.Style switch
            {
                DiffStyle.Title => $"[bold]{text}[/]",
                DiffStyle.Heading => $"[bold underline]{text}[/]",
                DiffStyle.Added => $"[green]{text}[/]",
                DiffStyle.Removed => $"[red]{text}[/]",
                DiffStyle.Changed => $"[yellow]{text}[/]",
                DiffStyle.Same => $"[green]{text}[/]",
                DiffStyle.Note => $"[grey]{text}[/]",
                _ => text,
            });
        }
    }
}
