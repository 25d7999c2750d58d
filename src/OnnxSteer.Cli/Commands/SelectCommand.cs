using System.CommandLine;
using OnnxSteer.Cli.Options;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Cli.Commands;

/// <summary>The selection settings given on the command line; each null keeps the profile's own.</summary>
internal sealed record SelectionChoice(int? K, double? Alpha, IReadOnlyList<SiteKind>? Sites, bool RankJointly, int? Seed, IReadOnlyList<int>? Layers,
    TieBreak? TieBreak, DirectionRule? Direction)
{
    /// <summary><paramref name="current"/> with what was given; --sites alone ranks per kind unless --rank-jointly.</summary>
    public SelectionSettings Apply(SelectionSettings current) => current with
    {
        K = K ?? current.K,
        Alpha = Alpha ?? current.Alpha,
        Sites = Sites ?? current.Sites,
        RankJointly = RankJointly || (Sites is null && current.RankJointly),
        Seed = Seed ?? current.Seed,
        Layers = Layers ?? current.Layers,
        TieBreak = TieBreak ?? current.TieBreak,
        Direction = Direction ?? current.Direction,
    };
}

/// <summary>What <c>onnxsteer select</c> was asked.</summary>
internal sealed record SelectOptions(string Profile, SelectionChoice Choice, SteeringMethod? Method, string? Output, bool Force);

/// <summary><c>onnxsteer select PROFILE --k K --alpha A [--sites ...] [--rank-jointly] [--method M] [-o OUT]</c>: re-select units from stored counts.</summary>
internal sealed class SelectCommand : CliCommand<SelectOptions>
{
    private readonly Argument<string> _profile = new("PROFILE") { Description = "A profile.json written by 'onnxsteer profile' or 'onnxsteer merge'. It is never modified." };
    private readonly Option<IReadOnlyList<int>> _k = SteeringOptions.K("Units to keep (per site kind unless --rank-jointly). Default: the profile's current k.");
    private readonly Option<IReadOnlyList<double>> _alpha = SteeringOptions.Alpha("Global steering strength: gamma = alpha*r_pos or -alpha*r_neg. Default: the profile's current alpha.");
    private readonly Option<IReadOnlyList<SiteKind>> _sites = SteeringOptions.Sites("Site kinds to choose from, comma-separated: attn, mlp, mlp-out. Default: the profile's current choice.");
    private readonly Option<bool> _jointly = new("--rank-jointly") { Description = "Rank several site kinds in one list (default: top k of each kind)." };
    private readonly Option<string?> _method = new("--method") { Description = "austeer (momentum), actdiff (|mean difference|), random (seeded) or caa (mean-difference vectors). Default: the profile's method." };
    private readonly Option<int?> _seed = new("--seed") { Description = "Seed for --method random. Default: the profile's seed." };
    private readonly Option<string?> _layers = new("--layers") { Description = "caa only: comma-separated layers to build vectors for (default: the middle layer)." };
    private readonly Option<string?> _tieBreak = new("--tie-break") { Description = "austeer: order of units with equal scores. released: lower layer, then lower index (the released code, reproduces the paper); effect: larger |mean/sd| of pos - neg first. Default: the profile's rule.", HelpName = "released|effect" };
    private readonly Option<string?> _direction = new("--direction") { Description = "Sign of gamma. released: + when r_pos >= r_neg (the released code); sign-aware: flipped where the unit's mean activation is negative, so gamma*x moves towards the positive side. Default: the profile's rule.", HelpName = "released|sign-aware" };
    private readonly Option<string?> _output = CommonOptions.OptionalOutput("Write the re-selected profile here (written atomically). Without it, only the summary is printed.");
    private readonly Option<bool> _force = CommonOptions.Force();

    protected override Command Declare() => Define("select",
        "Re-select steering units from a profile's stored counts, without running the model. Prints the chosen units; -o writes a new profile.",
        _profile, _k, _alpha, _sites, _jointly, _method, _seed, _layers, _tieBreak, _direction, _output, _force);

    protected override SelectOptions Bind(ParseResult parse)
    {
        var choice = new SelectionChoice(SteeringOptions.One(parse, _k), SteeringOptions.One(parse, _alpha), parse.GetValue(_sites), parse.GetValue(_jointly),
            parse.GetValue(_seed), parse.GetValue(_layers) is { } ls ? SelectionText.ParseLayers(ls) : null,
            parse.GetValue(_tieBreak) is { } tb ? SelectionRules.ParseTieBreak(tb) : null,
            parse.GetValue(_direction) is { } dr ? SelectionRules.ParseDirection(dr) : null);
        var method = parse.GetValue(_method) is { } ms ? SelectionText.ParseMethod(ms) : (SteeringMethod?)null;
        return new(parse.GetValue(_profile)!, choice, method, parse.GetValue(_output), parse.GetValue(_force));
    }

    public override int Run(SelectOptions o, CommandIo io)
    {
        if (o.Output is { } target) OutputChecks.File(target, o.Force);
        var profile = Steerer.Load(o.Profile);
        if (profile.Pairs < 1) throw new InvalidProfileException($"{o.Profile}: the profile holds no pairs: nothing to select from");
        var selection = o.Choice.Apply(profile.Selection);
        var selected = Steerer.Select(profile, selection, o.Method);
        io.Out.Write(SelectionText.Summary(selected));
        foreach (var note in SelectionArguments.KBeyondUnits(selected, selection.K, o.Choice.Sites ?? selected.Selection.Sites, selected.Selection.RankJointly))
            io.Error.WriteLine(note);
        if (SelectionText.NegativeFactorWarning(selected) is { } sign) io.Error.WriteLine(sign);
        foreach (var w in SelectionText.Warnings(selected)) io.Notice(w);
        if (o.Output is not { } outPath) return ExitCodes.Success;
        Steerer.Save(selected, outPath);
        io.Out.WriteLine($"wrote {outPath}");
        return ExitCodes.Success;
    }
}
