using System.CommandLine;
using OnnxSteer.Cli.Options;
using OnnxSteer.Inspection;
using OnnxSteer.ModelFiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Cli.Commands;

/// <summary>What <c>onnxsteer inspect</c> was asked.</summary>
internal sealed record InspectOptions(string Model, bool Json);

/// <summary><c>onnxsteer inspect MODEL [--json]</c>: model summary and every steering site.</summary>
internal sealed class InspectCommand : CliCommand<InspectOptions>
{
    private readonly Argument<string> _model = new("model") { Description = "The model: a .onnx file, or a folder holding model.onnx. External weights are not read." };
    private readonly Option<string?> _variant = CommonOptions.Variant();
    private readonly Option<bool> _json = CommonOptions.Json("Print JSON (schema onnxsteer.inspect/1, see README \"inspect --json schema\") instead of text.");

    protected override Command Declare() => Define("inspect",
        "Summarise an ONNX model (IR and opsets, op counts, inputs/outputs, weights inline and external, data files, " +
        "metadata) and list its steering sites (attn, mlp, mlp-out per layer), found from the graph's structure. " +
        $"Exits with {ExitCodes.InvalidInput} after the summary when the model has no steering site.", _model, _variant, _json);

    protected override InspectOptions Bind(ParseResult parse) => new(CommonOptions.Model(parse.GetValue(_model)!, parse.GetValue(_variant)), parse.GetValue(_json));

    /// <summary>
    /// Writes the summary to stdout and returns the exit code; throws <see cref="NoSitesFoundException"/> after writing
    /// when the model has no steering site.
    /// </summary>
    public override int Run(InspectOptions o, CommandIo io)
    {
        var summary = ModelInspector.Inspect(OnnxModel.Load(o.Model));
        io.Out.Write(o.Json ? SummaryJson.Write(summary) + Environment.NewLine : SummaryText.Write(summary, ErrorReporter.Option));
        io.Out.Flush();
        // The summary is still useful without sites, but a steering tool must not pass silently over such a model.
        if (summary.SiteError is not null) throw new NoSitesFoundException(summary.SiteError);
        return ExitCodes.Success;
    }
}
