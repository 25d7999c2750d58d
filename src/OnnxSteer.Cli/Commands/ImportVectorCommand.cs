using System.CommandLine;
using OnnxSteer.HostFormats;
using OnnxSteer.ModelFiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer import-vector VECTOR.gguf --model MODEL -o profile.json [--alpha S]</c>: a control vector as an additive profile.</summary>
public sealed class ImportVectorCommand : ICliCommand
{
    public Command Build()
    {
        var vectorArg = new Argument<string>("VECTOR") { Description = "A llama.cpp / repeng control vector (.gguf: general.architecture = controlvector, F32 tensors direction.N)." };
        var model = new Option<string>("--model", "-m")
        {
            Description = "The ONNX model it will steer (.onnx file, or a folder holding model.onnx): its hidden size and layer count are checked, and the profile records its fingerprint.",
            Required = true,
        };
        var output = new Option<string>("--output", "-o") { Description = "The profile.json to write (atomically).", Required = true };
        var alpha = new Option<double?>("--alpha", "--strength") { Description = "Multiply every direction by this (llama.cpp's --control-vector-scaled strength; negative inverts it, the same sign rule as every --alpha). Default 1." };
        var command = new Command("import-vector",
            "Convert a llama.cpp / repeng control vector into an additive (caa) profile for MODEL. direction.N is added to the output " +
            "of decoder layer N (0-based) at every position, applied as an Add right after layer N's MLP output (the same sum). " +
            "Then: onnxsteer patch MODEL profile.json -o OUT (or give the .gguf to patch directly).");
        command.Arguments.Add(vectorArg);
        var force = OutputChecks.ForceOption();
        foreach (var o in new Option[] { model, output, alpha, force }) command.Options.Add(o);
        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            SelectionArguments.Check(null, parse.GetValue(alpha));
            OutputChecks.File(parse.GetValue(output)!, parse.GetValue(force));
            var onnx = OnnxModel.Load(parse.GetValue(model)!);
            var sites = SiteFinder.Find(onnx).Sites;
            var vectorPath = parse.GetValue(vectorArg)!;
            var imported = ControlVectorProfiles.Import(vectorPath, onnx, sites, parse.GetValue(alpha) ?? 1.0);
            foreach (var w in imported.Warnings) Console.Error.WriteLine("warning: " + w);
            var outPath = parse.GetValue(output)!;
            imported.Profile.Save(outPath);
            var origin = imported.Profile.ControlVector!;
            Console.WriteLine($"imported {origin.Layers.Count} direction(s) of width {imported.Profile.Caa[0].Vector.Length} for layers " +
                              $"{string.Join(",", origin.Layers)} (model_hint '{origin.ModelHint}', strength {origin.Strength})");
            Console.WriteLine($"wrote {outPath}");
            return 0;
        }));
        return command;
    }
}
