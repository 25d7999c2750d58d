using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.ProfileRuns;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;

namespace OnnxSteer;

/// <summary>
/// How <see cref="Steerer.Patch(string, SteeringProfile, string, PatchSettings?)"/> and <see cref="Steerer.Steer(string, SteeringProfile, PatchSettings?)"/>
/// steer a model. Checked once, before any file is read; a parameter that breaks a rule is named by an
/// <see cref="InvalidParameterException"/>.
/// </summary>
public sealed record PatchSettings
{
    /// <summary>Fold the factors into the projection weights (no extra op) where that is exact.</summary>
    public bool Fold { get; init; }
    /// <summary>Let hosts change the strength per run (an <c>onnxsteer.strength</c> input). Not with <see cref="Fold"/>.</summary>
    public bool Switchable { get; init; }
    /// <summary>DSAS: gate each site's steering by its probe at every token (needs a profile with probes). Not with <see cref="Fold"/>.</summary>
    public bool Dynamic { get; init; }
    /// <summary>With <see cref="Dynamic"/>: sites whose probe's held-out accuracy is below this stay unsteered.</summary>
    public double ProbeThreshold { get; init; } = DefaultProbeThreshold;

    /// <summary>The default <see cref="ProbeThreshold"/>: the held-out accuracy below which a site stays unsteered.</summary>
    public const double DefaultProbeThreshold = PatchOptions.DefaultProbeThreshold;
    /// <summary>With <see cref="Dynamic"/>: the profile file whose probes gate the steering (default: the steering
    /// profile's own). Lets the same gates scale a GGUF control vector or a CAA profile, which carry none.</summary>
    public string? GatesFrom { get; init; }
    /// <summary>What to do when the model is already steered: refuse, remove that steering first, or add to it.</summary>
    public ExistingSteering Existing { get; init; } = ExistingSteering.Refuse;
    /// <summary>Re-select this many units from the profile's counts; null = the profile's selection.</summary>
    public int? K { get; init; }
    /// <summary>Re-select with this strength (for a control vector: its strength); null = the profile's.</summary>
    public double? Alpha { get; init; }
    /// <summary>Re-select from these site kinds only; null = the profile's.</summary>
    public IReadOnlyList<SiteKind>? Sites { get; init; }
    /// <summary>Accept a profile recorded on another model or element type (with a warning).</summary>
    public bool Force { get; init; }
    /// <summary>Receives warnings and notes for the user as they happen; null = none.</summary>
    public Action<WarningText>? Notice { get; init; }

    /// <summary>The request these settings make, checked (the one place a patch's parameters are checked).</summary>
    internal PatchRequest Request => new(K, Alpha, Sites, Force, Existing, ProbeThreshold, GatesFrom, Fold, Switchable, Dynamic);
}

/// <summary>
/// How <see cref="Steerer.CompareMethods"/> compares methods: the task and its data, each method's grid, the slices and
/// the fluency guard. The defaults are the CLI's (<c>onnxsteer sweep --methods</c>).
/// </summary>
public sealed record CompareSettings
{
    /// <summary>The task's data file (for <see cref="Task"/> pairs: contrastive pairs as JSON Lines).</summary>
    public required string Data { get; init; }
    /// <summary>boolq, copa, winogrande, svamp or pairs.</summary>
    public string Task { get; init; } = "pairs";
    /// <summary>Validation items: every setting is evaluated on them and each method's best is chosen on them alone.</summary>
    public required int Validation { get; init; }
    /// <summary>Test items right after the validation slice; null = the rest of the file.</summary>
    public int? Test { get; init; }
    /// <summary>First validation record; null = 0, or past the profile's pairs when the data is their file.</summary>
    public int? Offset { get; init; }
    /// <summary>The methods to compare, each re-selected from the profile's statistics.</summary>
    public IReadOnlyList<SteeringMethod> Methods { get; init; } = [SteeringMethod.AuSteer, SteeringMethod.Caa, SteeringMethod.ActDiff, SteeringMethod.Random];
    /// <summary>k values of the unit methods (units per site kind).</summary>
    public IReadOnlyList<int> Ks { get; init; } = [1, 2, 4, 8, 16, 32, 64, 100];
    /// <summary>alpha values of the unit methods.</summary>
    public IReadOnlyList<double> Alphas { get; init; } = [1, 5, 10, 20, 50, 100];
    /// <summary>caa's strengths.</summary>
    public IReadOnlyList<double> CaaAlphas { get; init; } = [1, 2, 4, 8];
    /// <summary>caa's layer sets, e.g. "2,0-4,all"; null = each layer alone, then all.</summary>
    public string? Layers { get; init; }
    /// <summary>Site kinds every method selects from; null = the profile's selection.</summary>
    public IReadOnlyList<SiteKind>? Sites { get; init; }
    /// <summary>Answer by greedy generation (exact match) instead of log-likelihood; pairs are loglik only.</summary>
    public bool Generate { get; init; }
    /// <summary>Fluency guard: settings whose mean log-likelihood per token falls more than this many nats below the vanilla model's are not chosen; null = reported only.</summary>
    public double? MaxFluencyDrop { get; init; }
    /// <summary>Neutral texts for the fluency cost; null = the built-in 20 short stories.</summary>
    public IReadOnlyList<string>? FluencyTexts { get; init; }
    /// <summary>tokenizer.json or its folder; null = the model's folder.</summary>
    public string? Tokenizer { get; init; }
    /// <summary>How to run ONNX Runtime.</summary>
    public RuntimeSettings? Runtime { get; init; }
}
