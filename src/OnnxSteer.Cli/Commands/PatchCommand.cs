using System.CommandLine;
using System.Globalization;
using OnnxSteer.Cli.Options;
using OnnxSteer.HostFormats;
using OnnxSteer.Patching;
using OnnxSteer.Sites;

namespace OnnxSteer.Cli.Commands;

/// <summary>What <c>onnxsteer patch</c> was asked.</summary>
internal sealed record PatchCommandOptions(string Model, string Profile, string Output, PatchSettings Settings);

/// <summary><c>onnxsteer patch MODEL PROFILE -o OUT</c>: write a steered copy of a model.</summary>
internal sealed class PatchCommand : CliCommand<PatchCommandOptions>
{
    private readonly Argument<string> _model = new("model") { Description = "The model to steer (.onnx file, or a folder holding model.onnx). It is never modified." };
    private readonly Option<string?> _variant = CommonOptions.Variant();
    private readonly Argument<string> _profile = new("profile") { Description = "The profile JSON written by 'onnxsteer profile' (or 'select', 'import-vector'), or a llama.cpp / repeng control vector (.gguf: direction.N is added to layer N's output; --alpha is its strength, default 1)." };
    private readonly Option<string> _output = CommonOptions.Output(
        "Where to write: a folder (the model keeps its file name; data files, genai_config.json and tokenizer " +
        "files are hard-linked beside it) or a .onnx file path. Same folder as the input: the data files are shared.");
    private readonly Option<IReadOnlyList<int>> _k = SteeringOptions.K("Re-select this many units from the profile's counts (per site kind).");
    private readonly Option<IReadOnlyList<double>> _alpha = SteeringOptions.Alpha("Re-select with this steering strength (gamma = ±alpha·r); for a control vector (.gguf or imported), its strength.");
    private readonly Option<IReadOnlyList<SiteKind>> _sites = SteeringOptions.Sites("Re-select from these site kinds only, comma-separated: attn, mlp, mlp-out.");
    private readonly Option<bool> _fold = new("--fold")
    {
        Description = "Fold the scale into the projection's weights instead of inserting a Mul (same op count, no extra cost). " +
                      "Sites that cannot be folded exactly (int4 input channels, shared weights) get a Mul, and the output says so.",
    };
    private readonly Option<bool> _switchable = new("--switchable")
    {
        Description = "Make the steering adjustable at run time without reloading: each site's vector becomes an overridable " +
                      "initializer (the same '<projection>/steer.scale' constant a plain patch writes, or '.bias' for additive profiles) and the float scalar input " +
                      "'onnxsteer.strength' (default 1) scales them all. At the defaults the output equals a plain patch. " +
                      "Not with --fold.",
    };
    private readonly Option<bool> _dynamic = new("--dynamic")
    {
        Description = "DSAS: scale each site's steering, at every token, by its probe's gate g = sigmoid(w·h + b) computed in the graph " +
                      "from the site's own activation h (scale: x·(1 + g·gamma); add: x + g·c). Needs a profile written with " +
                      "'profile --probes'. Composes with --switchable. Not with --fold.",
    };
    private readonly Option<double> _probeThreshold = new Option<double>("--probe-threshold")
    {
        Description = "With --dynamic: leave unsteered the sites whose probe's held-out accuracy is below this.",
        DefaultValueFactory = _ => PatchSettings.DefaultProbeThreshold,
        HelpName = "ACC",
    }.Check(t => t is >= 0 and <= 1, "must be between 0 and 1");
    private readonly Option<string?> _gatesFrom = new("--gates-from")
    {
        Description = "With --dynamic: gate with the probes of this profile (written with 'profile --probes' on the same model) instead of " +
                      "PROFILE's own, so the same gates scale a GGUF control vector, a caa profile or a stacked step.",
        HelpName = "PROFILE",
    };
    private readonly Option<bool> _replace = new("--replace") { Description = "The model is already steered: remove that steering first." };
    private readonly Option<bool> _stack = new("--stack") { Description = "The model is already steered: add this steering on top of it." };
    private readonly Option<bool> _force = new("--force")
    {
        Description = "Go ahead where patch would refuse: replace an existing output model (removing a stale .steer.data an earlier --fold left there), " +
                      "and apply a profile recorded on another model (fingerprint or dtype differ), with a warning.",
    };

    protected override Command Declare() => Define("patch",
        "Write a steered copy of MODEL: each selected unit's activation is multiplied by (1 + gamma) (caa profiles: a vector " +
        "is added), through one Mul (or Add) per site, or folded into the weights with --fold. The output records what was " +
        "done in its metadata; 'onnxsteer unpatch' undoes it.",
        _model, _variant, _profile, _output, _k, _alpha, _sites, _fold, _switchable, _dynamic, _probeThreshold, _gatesFrom, _replace, _stack, _force);

    protected override PatchCommandOptions Bind(ParseResult parse)
    {
        if (parse.GetValue(_replace) && parse.GetValue(_stack))
            throw new CommandLineException("--replace and --stack cannot be used together", ExitCodes.Usage);
        var settings = new PatchSettings
        {
            Fold = parse.GetValue(_fold), Switchable = parse.GetValue(_switchable), Dynamic = parse.GetValue(_dynamic),
            ProbeThreshold = parse.GetValue(_probeThreshold), GatesFrom = parse.GetValue(_gatesFrom),
            Existing = parse.GetValue(_replace) ? ExistingSteering.Replace : parse.GetValue(_stack) ? ExistingSteering.Stack : ExistingSteering.Refuse,
            K = SteeringOptions.One(parse, _k), Alpha = SteeringOptions.One(parse, _alpha), Sites = parse.GetValue(_sites), Force = parse.GetValue(_force),
        };
        return new(CommonOptions.Model(parse.GetValue(_model)!, parse.GetValue(_variant)), parse.GetValue(_profile)!, parse.GetValue(_output)!, settings);
    }

    public override int Run(PatchCommandOptions o, CommandIo io)
    {
        OutputChecks.SteeredModel(o.Output, o.Model, o.Settings.Force);
        var outcome = Steerer.Patch(o.Model, o.Profile, o.Output, o.Settings with { Notice = io.Notice });
        var stale = OutputChecks.RemoveStaleSteerData(outcome.Written);
        DescribeStep(io, outcome);
        var written = outcome.Written;
        io.Out.WriteLine($"wrote {written.ModelFile}");
        if (written.DataFile is { } data) io.Out.WriteLine($"wrote {data} (folded weights)");
        if (written.Linked.Count > 0) io.Out.WriteLine($"linked {string.Join(", ", written.Linked)}");
        if (written.Copied.Count > 0) io.Out.WriteLine($"copied {string.Join(", ", written.Copied)}");
        if (stale is not null) io.Out.WriteLine($"removed {stale} (an earlier --fold's data; this model does not use it)");
        return ExitCodes.Success;
    }

    /// <summary>What was steered and how: units and sites, then how to switch it (--switchable) and which sites are gated (--dynamic).</summary>
    private static void DescribeStep(CommandIo io, PatchOutcome outcome)
    {
        var step = outcome.Step;
        io.Out.WriteLine($"steered {step.Units} unit(s) at {step.Sites.Count} site(s) ({string.Join(", ", step.Sites)}) " +
                         $"with {step.Method}, alpha {step.Alpha}{(step.K is { } kk ? $", k {kk}" : "")}: {step.Apply}");
        if (step.Switchable)
            io.Out.WriteLine($"switchable: feed '{StrengthAdapter.InputName}' (float32 [1], default 1) to scale the steering (or load `onnxsteer adapter` files in onnxruntime-genai), " +
                             $"or a site's vector ({string.Join(", ", step.SiteVectors)}) to replace it");
        if (step.Dynamic)
            io.Out.WriteLine("dynamic: " + string.Join(", ", step.Gates
                .Select(g => $"{g.Site} gated (probe accuracy {g.ProbeAccuracy.ToString("0.###", CultureInfo.InvariantCulture)})")));
    }
}
