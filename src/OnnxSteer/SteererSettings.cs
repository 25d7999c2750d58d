using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Profiling;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;

namespace OnnxSteer;

/// <summary>How <see cref="Steerer.Profile(string, IEnumerable{Pairs.ContrastivePair}, ProfileSettings?, CancellationToken)"/> records and selects.</summary>
public sealed record ProfileSettings
{
    /// <summary>Units kept per site kind (all kinds together with <see cref="RankJointly"/>); not used by caa.</summary>
    public int K { get; init; } = 10;
    /// <summary>Global strength: gamma = alpha·r for each kept unit.</summary>
    public double Alpha { get; init; } = 10;
    /// <summary>Site kinds to select from (all are recorded, so <see cref="Steerer.Select(SteeringProfile, SelectSettings)"/> can pick others later).</summary>
    public IReadOnlyList<SiteKind> Sites { get; init; } = [SiteKind.Attn];
    /// <summary>Selection method.</summary>
    public SteeringMethod Method { get; init; } = SteeringMethod.AuSteer;
    /// <summary>Rank several site kinds in one list instead of taking the top k of each.</summary>
    public bool RankJointly { get; init; }
    /// <summary>Seed of <see cref="SteeringMethod.Random"/>.</summary>
    public int Seed { get; init; }
    /// <summary>caa only: the layers to build vectors for; null = the middle layer.</summary>
    public IReadOnlyList<int>? Layers { get; init; }
    /// <summary>austeer: how equal scores are ordered.</summary>
    public TieBreak TieBreak { get; init; } = TieBreak.Released;
    /// <summary>Unit methods: how the sign of gamma is chosen.</summary>
    public DirectionRule Direction { get; init; } = DirectionRule.Released;
    /// <summary>Sequences per model run (a pair is two).</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>tokenizer.json or its folder; null = the model's folder.</summary>
    public string? Tokenizer { get; init; }
    /// <summary>Longest sequence in tokens (longer prompts lose tokens from the left); null = genai_config.json's
    /// context_length, else 512.</summary>
    public int? MaxTokens { get; init; }
    /// <summary>Skip pairs that cannot be encoded (answer longer than the context) instead of failing.</summary>
    public bool SkipBad { get; init; }
    /// <summary>The part of the pairs to profile; the merge of all shards equals the whole.</summary>
    public ShardSpec Shard { get; init; } = ShardSpec.All;
    /// <summary>Also fit a DSAS probe per site (for <see cref="PatchSettings.Dynamic"/>); keeps every pair's rows in memory.</summary>
    public bool Probes { get; init; }
    /// <summary>Save the exact counts as the run goes, and resume from them (null = no checkpoint).</summary>
    public CheckpointOptions? Checkpoint { get; init; }
    /// <summary>Go on when the memory estimate exceeds the memory available (otherwise refuse before reading weights).</summary>
    public bool IgnoreMemoryEstimate { get; init; }
    /// <summary>Memory available to the run in bytes; null = ask the operating system.</summary>
    public long? MemoryAvailable { get; init; }
    /// <summary>How ONNX Runtime runs the model.</summary>
    public RuntimeSettings Runtime { get; init; } = RuntimeSettings.Default;
}

/// <summary>
/// How <see cref="Steerer.Select(SteeringProfile, SelectSettings)"/> re-selects; every null keeps the profile's current
/// choice.
/// </summary>
public sealed record SelectSettings
{
    /// <summary>Units to keep (per site kind unless ranked jointly).</summary>
    public int? K { get; init; }
    /// <summary>Global strength.</summary>
    public double? Alpha { get; init; }
    /// <summary>Site kinds to choose from.</summary>
    public IReadOnlyList<SiteKind>? Sites { get; init; }
    /// <summary>Rank the kinds in one list; null = the profile's choice when <see cref="Sites"/> is null, else false.</summary>
    public bool? RankJointly { get; init; }
    /// <summary>Selection method.</summary>
    public SteeringMethod? Method { get; init; }
    /// <summary>Seed of <see cref="SteeringMethod.Random"/>.</summary>
    public int? Seed { get; init; }
    /// <summary>caa only: the layers to build vectors for.</summary>
    public IReadOnlyList<int>? Layers { get; init; }
    /// <summary>austeer: how equal scores are ordered.</summary>
    public TieBreak? TieBreak { get; init; }
    /// <summary>Unit methods: how the sign of gamma is chosen.</summary>
    public DirectionRule? Direction { get; init; }
}

/// <summary>How <see cref="Steerer.Patch(string, SteeringProfile, string, PatchSettings?)"/> and <see cref="Steerer.Steer(string, SteeringProfile, PatchSettings?)"/> steer a model.</summary>
public sealed record PatchSettings
{
    /// <summary>Fold the factors into the projection weights (no extra op) where that is exact.</summary>
    public bool Fold { get; init; }
    /// <summary>Let hosts change the strength per run (an <c>onnxsteer.strength</c> input). Not with <see cref="Fold"/>.</summary>
    public bool Switchable { get; init; }
    /// <summary>DSAS: gate each site's steering by its probe at every token (needs a profile with probes). Not with <see cref="Fold"/>.</summary>
    public bool Dynamic { get; init; }
    /// <summary>With <see cref="Dynamic"/>: sites whose probe's held-out accuracy is below this stay unsteered.</summary>
    public double ProbeThreshold { get; init; } = PatchOptions.DefaultProbeThreshold;
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
    public Action<string>? Notice { get; init; }

    internal PlanRequest Request => new(K, Alpha, Sites, Force);

    internal PatchOptions Options => new(Fold, Existing, Switchable, Dynamic, ProbeThreshold);
}
