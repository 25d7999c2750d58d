using System.CommandLine;
using System.Globalization;
using OnnxSteer.Cli.Options;
using OnnxSteer.Profiles;

namespace OnnxSteer.Cli.Commands;

/// <summary>What <c>onnxsteer merge</c> was asked.</summary>
internal sealed record MergeOptions(IReadOnlyList<string> Profiles, string Output, bool Force, bool Partial);

/// <summary><c>onnxsteer merge A.json B.json ... -o MERGED.json</c>: sum the exact counts of profiles of disjoint pair sets.</summary>
internal sealed class MergeCommand : CliCommand<MergeOptions>
{
    private readonly Argument<string[]> _inputs = new("PROFILES")
    {
        Description = "Profiles of the same model, sites and method over disjoint pairs (e.g. the shards of 'profile --shard i/n'). They are never modified.",
        Arity = ArgumentArity.OneOrMore,
    };
    private readonly Option<string> _output = CommonOptions.Output("Where to write the merged profile (written atomically).");
    private readonly Option<bool> _force = CommonOptions.Force();
    private readonly Option<bool> _partial = new("--partial") { Description = "Merge shards of a run that are not all there yet (without it, a missing shard i/n is refused)." };

    protected override Command Declare() => Define("merge",
        "Merge profiles by adding their counts and sums exactly (integers), then re-select units with the first profile's settings. " +
        "The merge of all shards of a pair list equals the unsharded profile. Refuses different models, sites, methods or overlapping shards.",
        _inputs, _output, _force, _partial);

    protected override MergeOptions Bind(ParseResult parse)
    {
        var files = parse.GetValue(_inputs)!;
        // A list argument swallows unknown options; a profile path never starts with '-'.
        if (files.FirstOrDefault(f => f.StartsWith('-')) is { } unknown)
            throw new CommandLineException($"merge: unknown option '{unknown}' (see onnxsteer merge --help)", ExitCodes.Usage);
        return new(files, parse.GetValue(_output)!, parse.GetValue(_force), parse.GetValue(_partial));
    }

    public override int Run(MergeOptions o, CommandIo io)
    {
        OutputChecks.File(o.Output, o.Force);
        var merged = Steerer.Merge(o.Profiles, io.Notice);
        if (merged.Shards is { Count: > 0 } covered && !o.Partial && MissingShards(covered) is { Count: > 0 } missing)
            throw new CommandLineException($"{o.Profiles[0]}: the merge lacks shard{(missing.Count == 1 ? "" : "s")} {string.Join(", ", missing)} of the run " +
                                           $"(it has {string.Join(", ", covered)}): give every shard, or --partial to merge only these", ExitCodes.Usage);
        Steerer.Save(merged, o.Output);
        var shards = merged.Shards is null ? "complete" : "shards " + string.Join(",", merged.Shards);
        io.Out.WriteLine($"merged {o.Profiles.Count} profile{(o.Profiles.Count == 1 ? "" : "s")}: N={merged.Pairs} pairs ({shards})");
        io.Out.Write(SelectionText.Summary(merged));
        foreach (var w in SelectionText.Warnings(merged)) io.Notice(w);
        io.Out.WriteLine($"wrote {o.Output}");
        return ExitCodes.Success;
    }

    /// <summary>The shards "i/n" of the run not in <paramref name="covered"/> (all of the form i/n with one n).</summary>
    private static List<string> MissingShards(IReadOnlyList<string> covered)
    {
        var parsed = covered.Select(c => c.Split('/')).Where(p => p.Length == 2 && int.TryParse(p[0], out _) && int.TryParse(p[1], out _))
            .Select(p => (I: int.Parse(p[0], CultureInfo.InvariantCulture), N: int.Parse(p[1], CultureInfo.InvariantCulture))).ToList();
        if (parsed.Count != covered.Count || parsed.Select(p => p.N).Distinct().Count() != 1) return [];
        var n = parsed[0].N;
        return Enumerable.Range(0, n).Where(i => !parsed.Any(p => p.I == i)).Select(i => $"{i}/{n}").ToList();
    }
}
