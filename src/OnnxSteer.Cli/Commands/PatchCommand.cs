using System.CommandLine;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer patch MODEL PROFILE -o OUT</c>: write a steered copy of a model.</summary>
public sealed class PatchCommand : ICliCommand
{
    public Command Build()
    {
        var model = new Argument<string>("model") { Description = "The model to steer (.onnx file, or a folder holding model.onnx). It is never modified." };
        var profile = new Argument<string>("profile") { Description = "The profile JSON written by 'onnxsteer profile' (or 'select', 'import-vector'), or a llama.cpp / repeng control vector (.gguf: direction.N is added to layer N's output; --alpha is its strength, default 1)." };
        var output = new Option<string>("--output", "-o")
        {
            Description = "Where to write: a folder (the model keeps its file name; data files, genai_config.json and tokenizer " +
                          "files are hard-linked beside it) or a .onnx file path. Same folder as the input: the data files are shared.",
            Required = true,
        };
        var k = new Option<int?>("--k") { Description = "Re-select this many units from the profile's counts (per site kind)." };
        var alpha = new Option<double?>("--alpha") { Description = "Re-select with this steering strength (gamma = ±alpha·r); for a control vector (.gguf or imported), its strength." };
        var sites = new Option<string?>("--sites") { Description = "Re-select from these site kinds only, comma-separated: attn, mlp, mlp-out." };
        var fold = new Option<bool>("--fold")
        {
            Description = "Fold the scale into the projection's weights instead of inserting a Mul (same op count, no extra cost). " +
                          "Sites that cannot be folded exactly (int4 input channels, shared weights) get a Mul, and the output says so.",
        };
        var switchable = new Option<bool>("--switchable")
        {
            Description = "Make the steering adjustable at run time without reloading: each site's vector becomes an overridable " +
                          "initializer (the same '<projection>/steer.scale' constant a plain patch writes, or '.bias' for additive profiles) and the float scalar input " +
                          "'onnxsteer.strength' (default 1) scales them all. At the defaults the output equals a plain patch. " +
                          "Not with --fold.",
        };
        var dynamic = new Option<bool>("--dynamic")
        {
            Description = "DSAS: scale each site's steering, at every token, by its probe's gate g = sigmoid(w·h + b) computed in the graph " +
                          "from the site's own activation h (scale: x·(1 + g·gamma); add: x + g·c). Needs a profile written with " +
                          "'profile --probes'. Composes with --switchable. Not with --fold.",
        };
        var probeThreshold = new Option<double>("--probe-threshold")
        {
            Description = "With --dynamic: leave unsteered the sites whose probe's held-out accuracy is below this.",
            DefaultValueFactory = _ => PatchOptions.DefaultProbeThreshold,
            HelpName = "ACC",
        };
        var gatesFrom = new Option<string?>("--gates-from")
        {
            Description = "With --dynamic: gate with the probes of this profile (written with 'profile --probes' on the same model) instead of " +
                          "PROFILE's own, so the same gates scale a GGUF control vector, a caa profile or a stacked step.",
            HelpName = "PROFILE",
        };
        var replace = new Option<bool>("--replace") { Description = "The model is already steered: remove that steering first." };
        var stack = new Option<bool>("--stack") { Description = "The model is already steered: add this steering on top of it." };
        var force = new Option<bool>("--force")
        {
            Description = "Go ahead where patch would refuse: replace an existing output model (removing a stale .steer.data an earlier --fold left there), " +
                          "and apply a profile recorded on another model (fingerprint or dtype differ), with a warning.",
        };

        var command = new Command("patch",
            "Write a steered copy of MODEL: each selected unit's activation is multiplied by (1 + gamma) (caa profiles: a vector " +
            "is added), through one Mul (or Add) per site, or folded into the weights with --fold. The output records what was " +
            "done in its metadata; 'onnxsteer unpatch' undoes it.");
        command.Arguments.Add(model);
        command.Arguments.Add(profile);
        foreach (var o in new Option[] { output, k, alpha, sites, fold, switchable, dynamic, probeThreshold, gatesFrom, replace, stack, force }) command.Options.Add(o);
        command.SetAction(parse => CommandRunner.Run(parse, _ =>
        {
            if (parse.GetValue(replace) && parse.GetValue(stack))
                throw new CommandLineException("--replace and --stack cannot be used together", ExitCodes.Usage);
            if (parse.GetValue(probeThreshold) is var threshold && !(threshold is >= 0 and <= 1))
                throw new CommandLineException($"--probe-threshold {threshold}: must be between 0 and 1", ExitCodes.Usage);
            SelectionArguments.Check(parse.GetValue(k), parse.GetValue(alpha));
            OutputChecks.SteeredModel(parse.GetValue(output)!, parse.GetValue(model)!, parse.GetValue(force));
            var settings = new PatchSettings
            {
                Fold = parse.GetValue(fold), Switchable = parse.GetValue(switchable), Dynamic = parse.GetValue(dynamic), ProbeThreshold = threshold, GatesFrom = parse.GetValue(gatesFrom),
                Existing = parse.GetValue(replace) ? ExistingSteering.Replace : parse.GetValue(stack) ? ExistingSteering.Stack : ExistingSteering.Refuse,
                K = parse.GetValue(k), Alpha = parse.GetValue(alpha), Sites = ParseSites(parse.GetValue(sites)), Force = parse.GetValue(force),
                Notice = ErrorReporter.Notice,
            };
            var outcome = Steerer.Patch(parse.GetValue(model)!, parse.GetValue(profile)!, parse.GetValue(output)!, settings);

            var stale = OutputChecks.RemoveStaleSteerData(outcome.Written);
            var step = outcome.Patch.Step;
            var units = outcome.Plan.Sites.Sum(s => s.Units.Count);
            Console.Out.WriteLine($"steered {units} unit(s) at {step.Sites.Count} site(s) ({string.Join(", ", step.Sites)}) " +
                                  $"with {step.Method}, alpha {step.Alpha}{(step.K is { } kk ? $", k {kk}" : "")}: {step.Apply}");
            if (step.Switchable == true)
                Console.Out.WriteLine($"switchable: feed '{SwitchableSteering.StrengthName}' (float32 [1], default 1) to scale the steering (or load `onnxsteer adapter` files in onnxruntime-genai), " +
                                      $"or a site's vector ({string.Join(", ", step.Edits.Select(e => e.Initializer))}) to replace it");
            if (step.Dynamic == true)
                Console.Out.WriteLine("dynamic: " + string.Join(", ", step.Edits.Where(e => e.Gate is not null)
                    .Select(e => $"{e.Site} gated (probe accuracy {e.Gate!.ProbeAccuracy.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)})")));
            Console.Out.WriteLine($"wrote {outcome.Written.ModelFile}");
            if (outcome.Written.DataFile is { } data) Console.Out.WriteLine($"wrote {data} (folded weights)");
            if (outcome.Written.Linked.Count > 0) Console.Out.WriteLine($"linked {string.Join(", ", outcome.Written.Linked)}");
            if (outcome.Written.Copied.Count > 0) Console.Out.WriteLine($"copied {string.Join(", ", outcome.Written.Copied)}");
            if (stale is not null) Console.Out.WriteLine($"removed {stale} (an earlier --fold's data; this model does not use it)");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static IReadOnlyList<SiteKind>? ParseSites(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var kinds = new List<SiteKind>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!SiteKinds.TryParse(part, out var kind))
                throw new CommandLineException($"--sites: unknown site kind '{part}': expected attn, mlp or mlp-out", ExitCodes.Usage);
            kinds.Add(kind);
        }
        return kinds;
    }
}
