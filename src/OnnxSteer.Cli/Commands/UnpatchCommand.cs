using System.CommandLine;
using OnnxSteer.Cli.Options;

namespace OnnxSteer.Cli.Commands;

/// <summary>What <c>onnxsteer unpatch</c> was asked.</summary>
internal sealed record UnpatchOptions(string Steered, string Output, bool Force);

/// <summary><c>onnxsteer unpatch STEERED -o OUT</c>: restore the unsteered model from a steered one.</summary>
internal sealed class UnpatchCommand : CliCommand<UnpatchOptions>
{
    private readonly Argument<string> _model = new("steered") { Description = "A model written by 'onnxsteer patch' (.onnx file or folder). It is never modified." };
    private readonly Option<string?> _variant = CommonOptions.Variant();
    private readonly Option<string> _output = CommonOptions.Output("Where to write the restored model: a folder (keeps the file name) or a .onnx file path.");
    private readonly Option<bool> _force = CommonOptions.Force();

    protected override Command Declare() => Define("unpatch",
        "Remove the steering that 'onnxsteer patch' recorded in a model: inserted nodes and constants go, folded weights " +
        "get back their original data, and the result is structurally equal to the model before patching.",
        _model, _variant, _output, _force);

    protected override UnpatchOptions Bind(ParseResult parse) => new(CommonOptions.Model(parse.GetValue(_model)!, parse.GetValue(_variant)), parse.GetValue(_output)!, parse.GetValue(_force));

    public override int Run(UnpatchOptions o, CommandIo io)
    {
        OutputChecks.SteeredModel(o.Output, o.Steered, o.Force);
        var (written, removed) = Steerer.Unpatch(o.Steered, o.Output, io.Notice);
        if (OutputChecks.RemoveStaleSteerData(written) is { } stale) io.Out.WriteLine($"removed {stale} (this model does not use it)");
        foreach (var step in removed)
            io.Out.WriteLine($"removed {step.Method} steering at {string.Join(", ", step.Sites)} ({step.Apply})");
        io.Out.WriteLine($"wrote {written.ModelFile}");
        return ExitCodes.Success;
    }
}
