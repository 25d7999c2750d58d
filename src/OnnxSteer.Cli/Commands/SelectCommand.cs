using System.CommandLine;
using OnnxSteer.Profiles;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer select PROFILE --k K --alpha A [--sites ...] [--rank-jointly] [--method M] [-o OUT]</c>: re-select units from stored counts.</summary>
public sealed class SelectCommand : ICliCommand
{
    public Command Build()
    {
        var profileArg = new Argument<string>("PROFILE") { Description = "A profile.json written by 'onnxsteer profile' or 'onnxsteer merge'. It is never modified." };
        var k = new Option<int?>("--k") { Description = "Units to keep (per site kind unless --rank-jointly). Default: the profile's current k." };
        var alpha = new Option<double?>("--alpha") { Description = "Global steering strength: gamma = alpha*r_pos or -alpha*r_neg. Default: the profile's current alpha." };
        var sites = new Option<string?>("--sites") { Description = "Site kinds to choose from, comma-separated: attn, mlp, mlp-out. Default: the profile's current choice." };
        var jointly = new Option<bool>("--rank-jointly") { Description = "Rank several site kinds in one list (default: top k of each kind)." };
        var method = new Option<string?>("--method") { Description = "austeer (momentum), actdiff (|mean difference|), random (seeded) or caa (mean-difference vectors). Default: the profile's method." };
        var seed = new Option<int?>("--seed") { Description = "Seed for --method random. Default: the profile's seed." };
        var layers = new Option<string?>("--layers") { Description = "caa only: comma-separated layers to build vectors for (default: the middle layer)." };
        var tieBreak = new Option<string?>("--tie-break") { Description = "austeer: order of units with equal scores. released: lower layer, then lower index (the released code, reproduces the paper); effect: larger |mean/sd| of pos - neg first. Default: the profile's rule.", HelpName = "released|effect" };
        var direction = new Option<string?>("--direction") { Description = "Sign of gamma. released: + when r_pos >= r_neg (the released code); sign-aware: flipped where the unit's mean activation is negative, so gamma*x moves towards the positive side. Default: the profile's rule.", HelpName = "released|sign-aware" };
        var output = new Option<string?>("--output", "-o") { Description = "Write the re-selected profile here (written atomically). Without it, only the summary is printed." };
        var force = OutputChecks.ForceOption();
        var command = new Command("select", "Re-select steering units from a profile's stored counts, without running the model. Prints the chosen units; -o writes a new profile.");
        command.Arguments.Add(profileArg);
        foreach (var o in new Option[] { k, alpha, sites, jointly, method, seed, layers, tieBreak, direction, output, force }) command.Options.Add(o);
        command.SetAction(parse => CommandRunner.Run(parse, _ =>
        {
            SelectionArguments.Check(parse.GetValue(k), parse.GetValue(alpha));
            if (parse.GetValue(output) is { } target) OutputChecks.File(target, parse.GetValue(force));
            var path = parse.GetValue(profileArg)!;
            var profile = Steerer.Load(path);
            if (profile.Pairs < 1) throw new InvalidProfileException($"{path}: the profile holds no pairs: nothing to select from");
            var current = profile.Selection;
            var chosenSites = parse.GetValue(sites) is { } ss ? SelectionText.ParseSites(ss) : null;
            var selection = current with
            {
                K = parse.GetValue(k) ?? current.K,
                Alpha = parse.GetValue(alpha) ?? current.Alpha,
                Sites = chosenSites ?? current.Sites,
                RankJointly = parse.GetValue(jointly) || (chosenSites is null && current.RankJointly),
                Seed = parse.GetValue(seed) ?? current.Seed,
                Layers = parse.GetValue(layers) is { } ls ? SelectionText.ParseLayers(ls) : current.Layers,
                TieBreak = parse.GetValue(tieBreak) is { } tb ? SelectionRules.ParseTieBreak(tb) : current.TieBreak,
                Direction = parse.GetValue(direction) is { } dr ? SelectionRules.ParseDirection(dr) : current.Direction,
            };
            var selected = Steerer.Select(profile, selection, parse.GetValue(method) is { } ms ? SelectionText.ParseMethod(ms) : null);
            var (kValue, kinds, jointlyValue) = (selection.K, chosenSites ?? selected.Selection.Sites, selected.Selection.RankJointly);
            Console.Write(SelectionText.Summary(selected));
            foreach (var note in SelectionArguments.KBeyondUnits(selected, kValue, kinds, jointlyValue)) Console.Error.WriteLine(note);
            if (SignRule.NegativeFactorWarning(selected) is { } sign) Console.Error.WriteLine(sign);
            foreach (var w in SelectionText.Warnings(selected)) ErrorReporter.Notice(w);
            if (parse.GetValue(output) is { } outPath)
            {
                selected.Save(outPath);
                Console.WriteLine($"wrote {outPath}");
            }
            return 0;
        }));
        return command;
    }
}
