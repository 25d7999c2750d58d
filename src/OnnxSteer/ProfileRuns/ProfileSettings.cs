using OnnxSteer.Profiles;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;

namespace OnnxSteer.ProfileRuns;

/// <summary>How a profiling run records and selects: the settings of the front door's Profile, passed to the runner as they are.</summary>
public sealed record ProfileSettings
{
    /// <summary>Units kept per site kind (all kinds together with <see cref="RankJointly"/>); not used by caa.</summary>
    public int K { get; init; } = 10;
    /// <summary>Global strength: gamma = alpha·r for each kept unit.</summary>
    public double Alpha { get; init; } = 10;
    /// <summary>Site kinds to select from (all are recorded, so a later selection can pick others).</summary>
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
    /// <summary>Sequences per model run (a pair is two); with a KV cache, prompts per run, each pair's prompt once
    /// (its two answers then run token by token from the cache).</summary>
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
    /// <summary>Also fit a DSAS probe per site (for dynamic patching), in a pass of its own over the probe texts after
    /// the counts; keeps one pooled row per text and site until the fit.</summary>
    public bool Probes { get; init; }
    /// <summary>Probe texts, both classes: JSON Lines <c>{"text", "label": "undesired"|"neutral"}</c>; null = from the pairs.</summary>
    public string? ProbeData { get; init; }
    /// <summary>Neutral control texts (JSON Lines <c>{"text"}</c>) against the pairs' negative texts; with neither this nor
    /// <see cref="ProbeData"/>, the probes separate the pairs' negative from their positive texts.</summary>
    public string? ProbeNeutral { get; init; }
    /// <summary>How a text's activations become the probe's row; <see cref="ProbePooling.Auto"/> = the token mean for
    /// undesired-vs-neutral texts, the last token for the pairs' own texts (each measured best with its data, docs/dynamic.md).</summary>
    public ProbePooling ProbePooling { get; init; } = ProbePooling.Auto;
    /// <summary>Fit the probes on this many principal components of the standardized activations (folded into the
    /// weights); null = all units.</summary>
    public int? ProbePca { get; init; }
    /// <summary>Save the exact counts as the run goes, and resume from them (null = no checkpoint).</summary>
    public CheckpointOptions? Checkpoint { get; init; }
    /// <summary>Go on when the memory estimate exceeds the memory available (otherwise refuse before reading weights).</summary>
    public bool IgnoreMemoryEstimate { get; init; }
    /// <summary>Memory available to the run in bytes; null = ask the operating system.</summary>
    public long? MemoryAvailable { get; init; }
    /// <summary>How ONNX Runtime runs the model.</summary>
    public RuntimeSettings Runtime { get; init; } = RuntimeSettings.Default;
}

/// <summary>How a text's activations at a site become one row of the probe's data.</summary>
public enum ProbePooling
{
    /// <summary>The token mean for texts against a neutral set, the last token for the pairs' negative vs positive texts.</summary>
    Auto,
    /// <summary>The mean over the text's tokens (DSAS).</summary>
    Mean,
    /// <summary>The text's last token.</summary>
    LastToken,
}
