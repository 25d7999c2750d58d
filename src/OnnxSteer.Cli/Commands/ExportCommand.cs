using System.CommandLine;
using OnnxSteer.Cli.Options;
using OnnxSteer.HostFormats;
using OnnxSteer.Profiles;

namespace OnnxSteer.Cli.Commands;

/// <summary>What <c>onnxsteer export</c> was asked.</summary>
internal sealed record ExportOptions(string Profile, string Output, string? Format, string? ModelHint, bool Force);

/// <summary><c>onnxsteer export PROFILE -o units.csv|units.json|vector.gguf [--format F]</c>: a profile's selection in another format.</summary>
internal sealed class ExportCommand : CliCommand<ExportOptions>
{
    private readonly Argument<string> _profile = new("PROFILE") { Description = "A profile.json (from profile, select, merge or import-vector). It is never modified." };
    private readonly Option<string> _output = CommonOptions.Output(
        "The file to write (atomically). Its extension picks the format unless --format is given: " +
        ".csv or .json = the selected units (rank, site, kind, layer, index, operation, score, r_pos, r_neg, value); " +
        ".gguf = a llama.cpp / repeng control vector (caa profiles with mlp-out vectors only).");
    private readonly Option<string?> _format = new("--format") { Description = "csv, json or gguf; overrides the extension of -o." };
    private readonly Option<string?> _hint = new("--model-hint") { Description = "gguf only: controlvector.model_hint to write (e.g. llama). Default: the imported file's hint, else the model's file name." };
    private readonly Option<bool> _force = CommonOptions.Force();

    protected override Command Declare() => Define("export",
        "Export a profile's selection for notebooks (CSV, JSON: one row per selected unit; value = gamma for scaled units, the " +
        "offset for caa vectors) or as a llama.cpp / repeng control vector (GGUF: direction.N = the vector added to layer N's output).",
        _profile, _output, _format, _hint, _force);

    protected override ExportOptions Bind(ParseResult parse) =>
        new(parse.GetValue(_profile)!, parse.GetValue(_output)!, parse.GetValue(_format), parse.GetValue(_hint), parse.GetValue(_force));

    public override int Run(ExportOptions o, CommandIo io)
    {
        OutputChecks.File(o.Output, o.Force);
        var profile = Steerer.Load(o.Profile);
        var resolved = ProfileExport.ResolveFormat(o.Output, o.Format);
        io.Out.WriteLine(Describe(ProfileExport.Write(profile, o.Profile, o.Output, resolved, o.ModelHint), profile.Method));
        if (resolved == ExportFormat.Gguf && profile.Caa.Any(v => v.Layer == 0))
            io.Error.WriteLine("warning: the vector has direction.0 (layer 0); llama.cpp refuses such files (repeng and OnnxSteer accept them)");
        return ExitCodes.Success;
    }

    private static string Describe(ProfileExportResult r, SteeringMethod method) => r.Format == ExportFormat.Gguf
        ? $"wrote {r.File}: control vector with {r.Rows} direction(s) of width {r.Width} (layers {string.Join(",", r.Layers)}), model_hint '{r.ModelHint}'"
        : $"wrote {r.File}: {r.Rows} row(s) ({method.ToName()})";
}
