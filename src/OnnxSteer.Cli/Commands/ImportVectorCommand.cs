using System.CommandLine;
using OnnxSteer.Cli.Options;
using OnnxSteer.HostFormats;
using OnnxSteer.ModelFiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Cli.Commands;

/// <summary>What <c>onnxsteer import-vector</c> was asked.</summary>
internal sealed record ImportVectorOptions(string Vector, string Model, string Output, double Alpha, bool Force);

/// <summary><c>onnxsteer import-vector VECTOR.gguf --model MODEL -o profile.json [--alpha S]</c>: a control vector as an additive profile.</summary>
internal sealed class ImportVectorCommand : CliCommand<ImportVectorOptions>
{
    private readonly Argument<string> _vector = new("VECTOR") { Description = "A llama.cpp / repeng control vector (.gguf: general.architecture = controlvector, F32 tensors direction.N)." };
    private readonly Option<string> _model = new("--model", "-m")
    {
        Description = "The ONNX model it will steer (.onnx file, or a folder holding model.onnx): its hidden size and layer count are checked, and the profile records its fingerprint.",
        Required = true,
    };
    private readonly Option<string> _output = CommonOptions.Output("The profile.json to write (atomically).");
    private readonly Option<IReadOnlyList<double>> _alpha = SteeringOptions.Alpha(
        "Multiply every direction by this (llama.cpp's --control-vector-scaled strength; negative inverts it, the same sign rule as every --alpha). Default 1.",
        aliases: "--strength");
    private readonly Option<bool> _force = CommonOptions.Force();

    protected override Command Declare() => Define("import-vector",
        "Convert a llama.cpp / repeng control vector into an additive (caa) profile for MODEL. direction.N is added to the output " +
        "of decoder layer N (0-based) at every position, applied as an Add right after layer N's MLP output (the same sum). " +
        "Then: onnxsteer patch MODEL profile.json -o OUT (or give the .gguf to patch directly).",
        _vector, _model, _output, _alpha, _force);

    protected override ImportVectorOptions Bind(ParseResult parse) => new(parse.GetValue(_vector)!, parse.GetValue(_model)!, parse.GetValue(_output)!,
        SteeringOptions.One(parse, _alpha) ?? 1.0, parse.GetValue(_force));

    public override int Run(ImportVectorOptions o, CommandIo io)
    {
        OutputChecks.File(o.Output, o.Force);
        var imported = ControlVectorProfiles.Import(o.Vector, o.Model, o.Alpha);
        foreach (var w in imported.Warnings) io.Error.WriteLine("warning: " + w);
        Steerer.Save(imported.Profile, o.Output);
        var origin = imported.Profile.ControlVector!;
        io.Out.WriteLine($"imported {origin.Layers.Count} direction(s) of width {imported.Profile.Caa[0].Vector.Length} for layers " +
                         $"{string.Join(",", origin.Layers)} (model_hint '{origin.ModelHint}', strength {origin.Strength})");
        io.Out.WriteLine($"wrote {o.Output}");
        return ExitCodes.Success;
    }
}
