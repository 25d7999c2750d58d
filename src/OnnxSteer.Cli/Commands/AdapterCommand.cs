using System.CommandLine;
using System.Globalization;
using OnnxSteer.Cli.Options;
using OnnxSteer.HostFormats;

namespace OnnxSteer.Cli.Commands;

/// <summary>What <c>onnxsteer adapter</c> was asked.</summary>
internal sealed record AdapterOptions(string Model, float Strength, string Output, bool Force);

/// <summary>
/// <c>onnxsteer adapter MODEL --strength S -o FILE.onnx_adapter</c>: an ONNX Runtime adapter that sets the strength of a
/// <c>patch --switchable</c> model, for onnxruntime-genai's <c>Adapters</c> / <c>SetActiveAdapter</c>.
/// </summary>
internal sealed class AdapterCommand : CliCommand<AdapterOptions>
{
    private readonly Argument<string> _model = new("model") { Description = "A model patched with 'onnxsteer patch --switchable' (.onnx file or folder). It is only read." };
    private readonly Option<string?> _variant = CommonOptions.Variant();
    private readonly Option<float> _strength = new("--strength") { Description = "The steering strength the adapter sets (1 = as patched, 0 = off, 2 = twice alpha).", Required = true, HelpName = "S" };
    private readonly Option<string> _output = CommonOptions.Output("The .onnx_adapter file to write.", "FILE");
    private readonly Option<bool> _force = CommonOptions.Force();

    protected override Command Declare() => Define("adapter",
        "Write an ONNX Runtime adapter (.onnx_adapter) that sets a switchable model's steering strength. " +
        "onnxruntime-genai loads it with Adapters.LoadAdapter and applies it to one generator with SetActiveAdapter; " +
        "plain ONNX Runtime with OrtLoraAdapter and RunOptions.AddActiveLoraAdapter. Generators without it run at the " +
        "strength the model was patched with. See docs/hosts.md.",
        _model, _variant, _strength, _output, _force);

    protected override AdapterOptions Bind(ParseResult parse) =>
        new(CommonOptions.Model(parse.GetValue(_model)!, parse.GetValue(_variant)), parse.GetValue(_strength), parse.GetValue(_output)!, parse.GetValue(_force));

    public override int Run(AdapterOptions o, CommandIo io)
    {
        OutputChecks.File(o.Output, o.Force);
        StrengthOption.WriteAdapter(o.Model, o.Strength, o.Output);
        io.Out.WriteLine($"wrote {o.Output} ({StrengthAdapter.InputName} = {o.Strength.ToString(CultureInfo.InvariantCulture)})");
        return ExitCodes.Success;
    }
}
