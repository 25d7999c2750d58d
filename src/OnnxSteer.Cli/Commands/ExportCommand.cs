using System.CommandLine;
using OnnxSteer.HostFormats;
using OnnxSteer.Profiles;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer export PROFILE -o units.csv|units.json|vector.gguf [--format F]</c>: a profile's selection in another format.</summary>
public sealed class ExportCommand : ICliCommand
{
    public Command Build()
    {
        var profileArg = new Argument<string>("PROFILE") { Description = "A profile.json (from profile, select, merge or import-vector). It is never modified." };
        var output = new Option<string>("--output", "-o")
        {
            Description = "The file to write (atomically). Its extension picks the format unless --format is given: " +
                          ".csv or .json = the selected units (rank, site, kind, layer, index, operation, score, r_pos, r_neg, value); " +
                          ".gguf = a llama.cpp / repeng control vector (caa profiles with mlp-out vectors only).",
            Required = true,
        };
        var format = new Option<string?>("--format") { Description = "csv, json or gguf; overrides the extension of -o." };
        var hint = new Option<string?>("--model-hint") { Description = "gguf only: controlvector.model_hint to write (e.g. llama). Default: the imported file's hint, else the model's file name." };
        var command = new Command("export",
            "Export a profile's selection for notebooks (CSV, JSON: one row per selected unit; value = gamma for scaled units, the " +
            "offset for caa vectors) or as a llama.cpp / repeng control vector (GGUF: direction.N = the vector added to layer N's output).");
        command.Arguments.Add(profileArg);
        var force = OutputChecks.ForceOption();
        foreach (var o in new Option[] { output, format, hint, force }) command.Options.Add(o);
        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            OutputChecks.File(parse.GetValue(output)!, parse.GetValue(force));
            var path = parse.GetValue(profileArg)!;
            var outPath = parse.GetValue(output)!;
            var profile = SteeringProfile.Load(path);
            var resolved = ProfileExport.ResolveFormat(outPath, parse.GetValue(format));
            Console.WriteLine(ProfileExport.Write(profile, path, outPath, resolved, parse.GetValue(hint)));
            if (resolved == ExportFormat.Gguf && profile.Caa.Any(v => v.Layer == 0))
                Console.Error.WriteLine("warning: the vector has direction.0 (layer 0); llama.cpp refuses such files (repeng and OnnxSteer accept them)");
            return 0;
        }));
        return command;
    }
}
