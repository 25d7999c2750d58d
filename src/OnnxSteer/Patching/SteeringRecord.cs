using System.Text.Json;
using System.Text.Json.Serialization;
using Onnx;

namespace OnnxSteer.Patching;

/// <summary>How one site was steered: an inserted node, or a folded weight.</summary>
internal enum EditKind
{
    /// <summary>A Mul or Add node on the edge into the projection (attn, mlp).</summary>
    InputEdge,
    /// <summary>A Mul or Add node on the projection's output edge (mlp-out).</summary>
    OutputEdge,
    /// <summary>The vector was folded into one or more weight tensors.</summary>
    Fold,
}

/// <summary>
/// One edit, with everything unpatching needs. For node edits: the node, its constant, the value it reads and the
/// value it writes. For folds: the original tensors (their protobuf, base64: the external-data reference, or the
/// data itself when it was embedded).
/// </summary>
internal sealed record SiteEdit
{
    [JsonPropertyName("site")] public required string Site { get; init; }
    [JsonPropertyName("kind")] public required EditKind Kind { get; init; }
    [JsonPropertyName("projection")] public required string Projection { get; init; }
    [JsonPropertyName("node")] public string? Node { get; init; }
    [JsonPropertyName("initializer")] public string? Initializer { get; init; }
    [JsonPropertyName("input")] public string? Input { get; init; }
    [JsonPropertyName("output")] public string? Output { get; init; }
    [JsonPropertyName("units")] public int Units { get; init; }
    [JsonPropertyName("original_tensors")] public List<string>? OriginalTensors { get; init; }
    /// <summary>For a fold: gamma of each steered unit by its index (the factor is 1 + gamma), so a diff can name the
    /// folded units exactly even where a rounded or block-scaled tensor no longer shows a clean row or column scale.</summary>
    [JsonPropertyName("gammas")] public SortedDictionary<int, double>? Gammas { get; init; }
    [JsonPropertyName("note")] public string? Note { get; init; }
    [JsonPropertyName("switch")] public SwitchEdit? Switch { get; init; }
    [JsonPropertyName("gate")] public GateEdit? Gate { get; init; }

    /// <summary>
    /// For a site inside the branches of an If (an Optimum merged decoder): the steering node of each branch. The
    /// constant (and a switch's nodes) stay in the main graph, read by every branch; <see cref="Node"/>,
    /// <see cref="Input"/>, <see cref="Output"/> and <see cref="Gate"/> are then null. Null for a main-graph site.
    /// </summary>
    [JsonPropertyName("branches")] public List<BranchEdit>? Branches { get; init; }

    /// <summary>The value the steering node reads as its second input: the gated factor, the switch's factor, or the constant.</summary>
    [JsonIgnore] public string? Factor => Gate?.Factor ?? Switch?.Factor ?? Initializer;

    /// <summary>The original tensors of a fold, parsed.</summary>
    public IEnumerable<TensorProto> ParseOriginalTensors() =>
        (OriginalTensors ?? []).Select(b => TensorProto.Parser.ParseFrom(Convert.FromBase64String(b)));
}

/// <summary>The steering node of one branch of an If, for a site that lives in both branches (<see cref="SiteEdit.Branches"/>).</summary>
internal sealed record BranchEdit
{
    [JsonPropertyName("if")] public required string If { get; init; }
    [JsonPropertyName("branch")] public required string Branch { get; init; }
    [JsonPropertyName("node")] public required string Node { get; init; }
    [JsonPropertyName("input")] public required string Input { get; init; }
    [JsonPropertyName("output")] public required string Output { get; init; }
    [JsonPropertyName("gate")] public GateEdit? Gate { get; init; }
}

/// <summary>
/// What <c>patch --switchable</c> added around one steering node: the value the node reads as its factor, the helper
/// nodes and constants that compute it, and the strength input (<see cref="StrengthCreated"/>: this edit added it, so
/// undoing the edit removes it). The edit's <see cref="SiteEdit.Initializer"/> is then also a graph input.
/// </summary>
internal sealed record SwitchEdit
{
    [JsonPropertyName("factor")] public required string Factor { get; init; }
    [JsonPropertyName("nodes")] public required List<string> Nodes { get; init; }
    [JsonPropertyName("initializers")] public required List<string> Initializers { get; init; }
    [JsonPropertyName("strength")] public required string Strength { get; init; }
    [JsonPropertyName("strength_created")] public bool StrengthCreated { get; init; }
}

/// <summary>One application of onnxsteer patch, as recorded in the model (key <c>onnxsteer.steering</c>, a JSON array).</summary>
internal sealed record SteeringStep
{
    [JsonPropertyName("tool")] public required string Tool { get; init; }
    [JsonPropertyName("profile_sha256")] public string? ProfileSha256 { get; init; }
    [JsonPropertyName("method")] public required string Method { get; init; }
    [JsonPropertyName("k")] public int? K { get; init; }
    [JsonPropertyName("alpha")] public double Alpha { get; init; }
    [JsonPropertyName("operation")] public required string Operation { get; init; }
    [JsonPropertyName("apply")] public required string Apply { get; init; }
    [JsonPropertyName("sites")] public required List<string> Sites { get; init; }
    [JsonPropertyName("edits")] public required List<SiteEdit> Edits { get; init; }
    [JsonPropertyName("switchable")] public bool? Switchable { get; init; }
    [JsonPropertyName("dynamic")] public bool? Dynamic { get; init; }
}

/// <summary>Reads and writes the steering record in a model's metadata_props.</summary>
internal static class SteeringMetadata
{
    /// <summary>Key holding the full JSON record (an array of steps, oldest first); the source of truth for unpatch.</summary>
    public const string StepsKey = "onnxsteer.steering";
    public const string VersionKey = "onnxsteer.version";
    public const string ProfileKey = "onnxsteer.profile_sha256";
    public const string MethodKey = "onnxsteer.method";
    public const string KKey = "onnxsteer.k";
    public const string AlphaKey = "onnxsteer.alpha";
    public const string SitesKey = "onnxsteer.sites";
    public const string ApplyKey = "onnxsteer.apply";
    public const string StepCountKey = "onnxsteer.steps";

    /// <summary>All keys onnxsteer writes; unpatch removes exactly these.</summary>
    public static IReadOnlyList<string> AllKeys { get; } =
        [StepsKey, VersionKey, ProfileKey, MethodKey, KKey, AlphaKey, SitesKey, ApplyKey, StepCountKey];

    /// <summary>The tool name and version written into the record.</summary>
    public static string ToolVersion { get; } =
        "onnxsteer " + (typeof(SteeringMetadata).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        // Compile-time metadata: reflection-built metadata cost a short patch tens of milliseconds of start-up (issue 29).
        TypeInfoResolver = System.Text.Json.Serialization.Metadata.JsonTypeInfoResolver.Combine(SteeringRecordJsonContext.Default, new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver()),
    };

    /// <summary>The recorded steps, oldest first; empty for an unsteered model.</summary>
    public static IReadOnlyList<SteeringStep> Read(ModelProto model, string source = "model")
    {
        var entry = model.MetadataProps.FirstOrDefault(p => p.Key == StepsKey);
        if (entry is null) return [];
        try
        {
            return JsonSerializer.Deserialize<List<SteeringStep>>(entry.Value, Json) ?? [];
        }
        catch (JsonException e)
        {
            throw new InvalidModelException($"{source}: metadata '{StepsKey}' is not a valid steering record ({IO.JsonErrorText.Of(e)})", e);
        }
    }

    /// <summary>True when the model carries a steering record.</summary>
    public static bool IsSteered(ModelProto model) => model.MetadataProps.Any(p => p.Key == StepsKey);

    /// <summary>Replaces onnxsteer's keys with a record of <paramref name="steps"/> (none: removes them all).</summary>
    public static void Write(ModelProto model, IReadOnlyList<SteeringStep> steps)
    {
        for (var i = model.MetadataProps.Count - 1; i >= 0; i--)
            if (AllKeys.Contains(model.MetadataProps[i].Key)) model.MetadataProps.RemoveAt(i);
        if (steps.Count == 0) return;
        var last = steps[^1];
        void Set(string key, string value) => model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        Set(VersionKey, last.Tool);
        if (last.ProfileSha256 is not null) Set(ProfileKey, last.ProfileSha256);
        Set(MethodKey, last.Method);
        if (last.K is not null) Set(KKey, last.K.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Set(AlphaKey, last.Alpha.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        Set(SitesKey, string.Join(",", last.Sites));
        Set(ApplyKey, last.Apply);
        Set(StepCountKey, steps.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Set(StepsKey, JsonSerializer.Serialize(steps, Json));
    }
}

/// <summary>Compile-time JSON metadata for the steering record (the options of <see cref="SteeringMetadata"/> still apply).</summary>
[JsonSerializable(typeof(List<SteeringStep>))]
internal sealed partial class SteeringRecordJsonContext : JsonSerializerContext;
