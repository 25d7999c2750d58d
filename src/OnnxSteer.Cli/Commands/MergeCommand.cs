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
        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var files = parse.GetValue(inputs)!;
            // A list argument swallows unknown options; a profile path never starts with '-'.
            if (files.FirstOrDefault(f => f.StartsWith('-')) is { } unknown)
                throw new CommandLineException($"merge: unknown option '{unknown}' (see onnxsteer merge --help)", ExitCodes.Usage);
            OutputChecks.File(parse.GetValue(output)!, parse.GetValue(force));
            var merged = Steerer.Merge(files, ErrorReporter.Notice);
            var outPath = parse.GetValue(output)!;
            merged.Save(outPath);
            var shards = merged.Shards is null ? "complete" : "shards " + string.Join(",", merged.Shards);
            Console.WriteLine($"merged {files.Length} profiles: N={merged.Pairs} pairs ({shards})");
            Console.Write(SelectionText.Summary(merged));
            foreach (var w in SelectionText.Warnings(merged)) ErrorReporter.Notice(w);
            Console.WriteLine($"wrote {outPath}");
            return 0;
        }));
        return command;
    }
}
