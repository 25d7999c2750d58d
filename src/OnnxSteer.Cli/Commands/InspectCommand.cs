using System.CommandLine;
using OnnxSteer.Inspection;
using OnnxSteer.ModelFiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer inspect MODEL [--json]</c>: model summary and every steering site.</summary>
public sealed class InspectCommand : ICliCommand
{
    public Command Build()
    {
        var model = new Argument<string>("model")
        {
            Description = "The model: a .onnx file, or a folder holding model.onnx. External weights are not read.",
        };
        var json = new Option<bool>("--json")
        {
            Description = "Print JSON (schema onnxsteer.inspect/1, see README \"inspect --json schema\") instead of text.",
        };
        var command = new Command("inspect",
            "Summarise an ONNX model (IR and opsets, op counts, inputs/outputs, weights inline and external, data files, " +
            "metadata) and list its steering sites (attn, mlp, mlp-out per layer), found from the graph's structure. " +
            $"Exits with {ExitCodes.InvalidInput} after the summary when the model has no steering site.");
        command.Arguments.Add(model);
        command.Options.Add(json);
        command.SetAction(parse => CommandRunner.Run(parse, () => Execute(parse.GetValue(model)!, parse.GetValue(json), Console.Out)));
        return command;
    }

    /// <summary>
    /// Writes the summary of <paramref name="modelPath"/> to <paramref name="output"/> and returns the exit code;
    /// throws <see cref="NoSitesFoundException"/> after writing when the model has no steering site.
    /// </summary>
    public static int Execute(string modelPath, bool json, TextWriter output)
    {
        var summary = ModelInspector.Inspect(OnnxModel.Load(modelPath));
        output.Write(json ? SummaryJson.Write(summary) + Environment.NewLine : SummaryText.Write(summary, ErrorReporter.Option));
        output.Flush();
        // The summary is still useful without sites, but a steering tool must not pass silently over such a model.
        if (summary.SiteError is not null) throw new NoSitesFoundException(summary.SiteError);
        return ExitCodes.Success;
    }
}
