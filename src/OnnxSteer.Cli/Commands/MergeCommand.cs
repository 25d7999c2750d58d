using System.CommandLine;
using OnnxSteer.Profiles;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer merge A.json B.json ... -o MERGED.json</c>: sum the exact counts of profiles of disjoint pair sets.</summary>
public sealed class MergeCommand : ICliCommand
{
    public Command Build()
    {
        var inputs = new Argument<string[]>("PROFILES")
        {
            Description = "Profiles of the same model, sites and method over disjoint pairs (e.g. the shards of 'profile --shard i/n'). They are never modified.",
            Arity = ArgumentArity.OneOrMore,
        };
        var output = new Option<string>("--output", "-o") { Description = "Where to write the merged profile (written atomically).", Required = true };
        var command = new Command("merge",
            "Merge profiles by adding their counts and sums exactly (integers), then re-select units with the first profile's settings. " +
            "The merge of all shards of a pair list equals the unsharded profile. Refuses different models, sites, methods or overlapping shards.");
        command.Arguments.Add(inputs);
        command.Options.Add(output);
        var force = OutputChecks.ForceOption();
        command.Options.Add(force);
        var partial = new Option<bool>("--partial") { Description = "Merge shards of a run that are not all there yet (without it, a missing shard i/n is refused)." };
        command.Options.Add(partial);
        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var files = parse.GetValue(inputs)!;
            // A list argument swallows unknown options; a profile path never starts with '-'.
            if (files.FirstOrDefault(f => f.StartsWith('-')) is { } unknown)
                throw new CommandLineException($"merge: unknown option '{unknown}' (see onnxsteer merge --help)", ExitCodes.Usage);
            OutputChecks.File(parse.GetValue(output)!, parse.GetValue(force));
            var merged = Steerer.Merge(files, ErrorReporter.Notice);
            var outPath = parse.GetValue(output)!;
            if (merged.Shards is { Count: > 0 } covered && !parse.GetValue(partial) && MissingShards(covered) is { Count: > 0 } missing)
                throw new CommandLineException($"{files[0]}: the merge lacks shard{(missing.Count == 1 ? "" : "s")} {string.Join(", ", missing)} of the run " +
                                               $"(it has {string.Join(", ", covered)}): give every shard, or --partial to merge only these", ExitCodes.Usage);
            merged.Save(outPath);
            var shards = merged.Shards is null ? "complete" : "shards " + string.Join(",", merged.Shards);
            Console.WriteLine($"merged {files.Length} profile{(files.Length == 1 ? "" : "s")}: N={merged.Pairs} pairs ({shards})");
            Console.Write(SelectionText.Summary(merged));
            foreach (var w in SelectionText.Warnings(merged)) ErrorReporter.Notice(w);
            Console.WriteLine($"wrote {outPath}");
            return 0;
        }));
        return command;
    }

    /// <summary>The shards "i/n" of the run not in <paramref name="covered"/> (all of the form i/n with one n).</summary>
    private static List<string> MissingShards(IReadOnlyList<string> covered)
    {
        var parsed = covered.Select(c => c.Split('/')).Where(p => p.Length == 2 && int.TryParse(p[0], out _) && int.TryParse(p[1], out _))
            .Select(p => (I: int.Parse(p[0], System.Globalization.CultureInfo.InvariantCulture), N: int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture))).ToList();
        if (parsed.Count != covered.Count || parsed.Select(p => p.N).Distinct().Count() != 1) return [];
        var n = parsed[0].N;
        return Enumerable.Range(0, n).Where(i => !parsed.Any(p => p.I == i)).Select(i => $"{i}/{n}").ToList();
    }
}
