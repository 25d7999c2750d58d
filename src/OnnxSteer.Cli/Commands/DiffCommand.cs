using System.CommandLine;
using OnnxSteer.Diffing;
using OnnxSteer.IO;
using Spectre.Console;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer diff A B</c>: what changed between two models, structurally and numerically. Exit 0 identical, 1 different, 2 error.</summary>
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
        var noColor = new Option<bool>("--no-color") { Description = "Plain text even on a terminal (also: NO_COLOR=1). Output is plain when piped." };

        var command = new Command("diff",
            "Show what changed between two ONNX models: nodes, edges, initializers (with value statistics), inputs/outputs, " +
            "opsets and metadata, plus a steering summary when the second model is a steered copy of the first. " +
            "Exit status: 0 identical, 1 different, 2 error.");
        command.Arguments.Add(original);
        command.Arguments.Add(patched);
        command.Options.Add(json);
        command.Options.Add(output);
        command.Options.Add(maxItems);
        command.Options.Add(noColor);
        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            try
            {
                var report = ModelDiffer.Compare(parse.GetValue(original)!, parse.GetValue(patched)!);
                if (parse.GetValue(output) is { } path) AtomicFile.WriteAllText(path, DiffJson.Serialize(report));
                if (parse.GetValue(json)) Console.Out.Write(DiffJson.Serialize(report));
                else Print(DiffText.Render(report, Math.Max(1, parse.GetValue(maxItems))), parse.GetValue(noColor));
                return report.Identical ? ExitCodes.Success : ExitCodes.Different;
            }
            catch (OnnxSteerException e) when (e.ExitCode != ExitCodes.Failure)
            {
                // diff(1) convention: every error is 2, so scripts can tell "different" (1) from "could not compare".
                throw new OnnxSteerException(e.Message, ExitCodes.Failure, e);
            }
        }));
        return command;
    }

    /// <summary>Coloured through Spectre.Console on a terminal; plain lines, unwrapped, when redirected or asked.</summary>
    private static void Print(IReadOnlyList<DiffLine> lines, bool noColor)
    {
        var plain = noColor || Console.IsOutputRedirected || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
        if (plain)
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
