using System.CommandLine;
using System.Globalization;
using OnnxSteer.Interop;
using OnnxSteer.ModelFiles;
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
        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var path = parse.GetValue(model)!;
            var s = parse.GetValue(strength);
            if (!float.IsFinite(s)) throw new OnnxSteerException($"--strength must be a finite number, not {s}", ExitCodes.Usage);
            RequireStrengthInput(OnnxModel.Load(path, checkExternalData: false), path);
            var file = parse.GetValue(output)!;
            OnnxAdapterFile.Write(file, [SwitchableSteering.StrengthParameter(s)]);
            Console.Out.WriteLine($"wrote {file} ({SwitchableSteering.StrengthName} = {s.ToString(CultureInfo.InvariantCulture)})");
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>Checks that the model declares the strength as an overridable [1] tensor, as this version patches it.</summary>
    private static void RequireStrengthInput(OnnxModel model, string path)
    {
        var input = model.Graph.Input.FirstOrDefault(i => i.Name == SwitchableSteering.StrengthName);
        if (input is null || model.Graph.Initializer.All(t => t.Name != SwitchableSteering.StrengthName))
            throw new OnnxSteerException($"{path}: not a switchable model (no '{SwitchableSteering.StrengthName}' input); patch it with --switchable",
                ExitCodes.InvalidInput);
        var dims = input.Type?.TensorType?.Shape?.Dim.Select(d => d.DimValue).ToArray() ?? [];
        if (!dims.SequenceEqual(SwitchableSteering.StrengthShape))
            throw new OnnxSteerException($"{path}: its '{SwitchableSteering.StrengthName}' has shape [{string.Join(",", dims)}], but adapters " +
                "need [1]; re-patch the model with this version of onnxsteer", ExitCodes.InvalidInput);
    }
}
