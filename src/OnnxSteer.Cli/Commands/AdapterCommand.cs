using System.CommandLine;
using System.Globalization;
using OnnxSteer.Patching;

namespace OnnxSteer.Cli.Commands;

/// <summary>
/// <c>onnxsteer adapter MODEL --strength S -o FILE.onnx_adapter</c>: an ONNX Runtime adapter that sets the strength of a
/// <c>patch --switchable</c> model, for onnxruntime-genai's <c>Adapters</c> / <c>SetActiveAdapter</c>.
/// </summary>
public sealed class AdapterCommand : ICliCommand
{
    public Command Build()
    {
        var model = new Argument<string>("model")
        {
            Description = "A model patched with 'onnxsteer patch --switchable' (.onnx file or folder). It is only read.",
        };
        var strength = new Option<float>("--strength")
        {
            Description = "The steering strength the adapter sets (1 = as patched, 0 = off, 2 = twice alpha).",
            Required = true,
            HelpName = "S",
        };
        var output = new Option<string>("--output", "-o") { Description = "The .onnx_adapter file to write.", Required = true, HelpName = "FILE" };
        var command = new Command("adapter",
            "Write an ONNX Runtime adapter (.onnx_adapter) that sets a switchable model's steering strength. " +
            "onnxruntime-genai loads it with Adapters.LoadAdapter and applies it to one generator with SetActiveAdapter; " +
            "plain ONNX Runtime with OrtLoraAdapter and RunOptions.AddActiveLoraAdapter. Generators without it run at the " +
            "strength the model was patched with. See docs/hosts.md.");
        command.Arguments.Add(model);
        command.Options.Add(strength);
        command.Options.Add(output);
        var force = OutputChecks.ForceOption();
        command.Options.Add(force);
        command.SetAction(parse => CommandRunner.Run(parse, _ =>
        {
            var path = parse.GetValue(model)!;
            var s = parse.GetValue(strength);
            var file = parse.GetValue(output)!;
            OutputChecks.File(file, parse.GetValue(force));
            StrengthOption.WriteAdapter(path, s, file);
            Console.Out.WriteLine($"wrote {file} ({SwitchableSteering.StrengthName} = {s.ToString(CultureInfo.InvariantCulture)})");
            return ExitCodes.Success;
        }));
        return command;
    }
}
