namespace OnnxSteer.Diffing;

// The records below are the `onnxsteer diff --json` schema (README, "diff --json schema"). Property names are
// serialised in snake_case by the CLI; keep them stable: add fields, never rename or remove them.

/// <summary>Everything <see cref="ModelDiffer"/> found between model A (original) and model B (patched).</summary>
public sealed record DiffReport
{
    /// <summary>The identifier of this schema (<see cref="Schema"/>); it changes only when a field is renamed or removed.</summary>
    public const string SchemaId = "onnxsteer.diff/1";

    /// <summary>Schema identifier written first in the JSON, bumped only on incompatible changes.</summary>
    public string Schema { get; init; } = SchemaId;
    /// <summary>The original model.</summary>
    public required ModelSide A { get; init; }
    /// <summary>The changed (e.g. steered) model.</summary>
    public required ModelSide B { get; init; }
    /// <summary>True when nothing at all differs (structure, weights, metadata).</summary>
    public required bool Identical { get; init; }
    /// <summary>How many differences of each kind.</summary>
    public required DiffCounts Summary { get; init; }
    /// <summary>Top-level ModelProto fields that differ: ir_version, producer_name, producer_version, domain, model_version, doc_string, graph_name.</summary>
    public required IReadOnlyList<ValueChange> Model { get; init; }
    /// <summary>Operator-set imports that differ.</summary>
    public required IReadOnlyList<OpsetChange> Opsets { get; init; }
    /// <summary>metadata_props entries that differ.</summary>
    public required IReadOnlyList<ValueChange> Metadata { get; init; }
    /// <summary>Graph inputs that differ (by name; the value is the type and shape).</summary>
    public required IReadOnlyList<ValueChange> Inputs { get; init; }
    /// <summary>Graph outputs that differ (by name; the value is the type and shape).</summary>
    public required IReadOnlyList<ValueChange> Outputs { get; init; }
    /// <summary>Nodes added, removed, renamed and changed.</summary>
    public required NodeDiff Nodes { get; init; }
    /// <summary>Input slots of matched nodes that read another value in B.</summary>
    public required IReadOnlyList<EdgeRewire> EdgesRewired { get; init; }
    /// <summary>Initializers added, removed and changed.</summary>
    public required InitializerDiff Initializers { get; init; }
    /// <summary>Present when B looks like A plus a steering patch.</summary>
    public SteeringSummary? Steering { get; init; }
    /// <summary>Present when a prompt was given: both models' next-token distributions compared.</summary>
    public PromptComparison? Prompt { get; init; }
}

/// <summary>One of the two models compared.</summary>
/// <param name="Path">The path the model was read from.</param>
/// <param name="Nodes">Nodes in its main graph.</param>
/// <param name="Initializers">Initializers in its main graph.</param>
public sealed record ModelSide(string Path, int Nodes, int Initializers);

/// <summary>How many differences of each kind were found; <c>HeaderChanges</c> counts model fields, opsets, metadata and graph inputs/outputs.</summary>
/// <param name="NodesAdded">Nodes only B has.</param>
/// <param name="NodesRemoved">Nodes only A has.</param>
/// <param name="NodesChanged">Matched nodes whose fields differ.</param>
/// <param name="NodesRenamed">Nodes matched by structure whose name differs.</param>
/// <param name="EdgesRewired">Input slots that read another value.</param>
/// <param name="InitializersAdded">Initializers only B has.</param>
/// <param name="InitializersRemoved">Initializers only A has.</param>
/// <param name="InitializersChanged">Initializers in both whose type, shape or values differ.</param>
/// <param name="HeaderChanges">Model fields, opsets, metadata entries and graph inputs/outputs that differ.</param>
public sealed record DiffCounts(
    int NodesAdded, int NodesRemoved, int NodesChanged, int NodesRenamed, int EdgesRewired,
    int InitializersAdded, int InitializersRemoved, int InitializersChanged,
    int HeaderChanges);

/// <summary>A named value present in A, B or both; <c>A</c>/<c>B</c> are null where absent.</summary>
/// <param name="Name">Field name, metadata key, or graph input/output name.</param>
/// <param name="Change">"added", "removed" or "changed".</param>
/// <param name="A">The value in A; null when absent.</param>
/// <param name="B">The value in B; null when absent.</param>
public sealed record ValueChange(string Name, string Change, string? A, string? B);

/// <summary>An operator-set import that differs; versions are null where the domain is not imported.</summary>
/// <param name="Domain">The operator domain ("" is ai.onnx).</param>
/// <param name="A">A's version; null when not imported.</param>
/// <param name="B">B's version; null when not imported.</param>
public sealed record OpsetChange(string Domain, long? A, long? B);

/// <summary>Node-level differences. Nodes are matched by name first, then by op type and matched inputs.</summary>
/// <param name="Added">Nodes only B has.</param>
/// <param name="Removed">Nodes only A has.</param>
/// <param name="Renamed">Nodes matched by structure whose name differs.</param>
/// <param name="Changed">Matched nodes whose fields differ.</param>
/// <param name="Unchanged">Matched nodes equal in every field.</param>
public sealed record NodeDiff(
    IReadOnlyList<NodeInfo> Added,
    IReadOnlyList<NodeInfo> Removed,
    IReadOnlyList<NodeRename> Renamed,
    IReadOnlyList<NodeChange> Changed,
    int Unchanged);

/// <summary>A node as it appears in one model.</summary>
/// <param name="Name">The node's name.</param>
/// <param name="OpType">Its operator.</param>
/// <param name="Domain">Its operator domain.</param>
/// <param name="Inputs">The values it reads.</param>
/// <param name="Outputs">The values it writes.</param>
public sealed record NodeInfo(string Name, string OpType, string Domain, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs);

/// <summary>A node matched by structure whose name differs.</summary>
/// <param name="A">The name in A.</param>
/// <param name="B">The name in B.</param>
/// <param name="OpType">The node's operator.</param>
public sealed record NodeRename(string A, string B, string OpType);

/// <summary>A matched node whose op type, domain, attributes or output names differ (input rewiring is in <see cref="DiffReport.EdgesRewired"/>).</summary>
/// <param name="Name">The node's name in B.</param>
/// <param name="Changes">The fields that differ.</param>
public sealed record NodeChange(string Name, IReadOnlyList<NodeFieldChange> Changes);

/// <summary>One field of a node that differs.</summary>
/// <param name="What">"op_type", "domain", "attribute" or "outputs".</param>
/// <param name="Name">Attribute name for "attribute", else null.</param>
/// <param name="A">The field's value in A.</param>
/// <param name="B">The field's value in B.</param>
public sealed record NodeFieldChange(string What, string? Name, string? A, string? B);

/// <summary>An input slot of a matched node that reads a different value in B than the value matched to A's.</summary>
/// <param name="Node">Node name in B.</param>
/// <param name="Input">Input index.</param>
/// <param name="A">The value read in A ("" for none).</param>
/// <param name="B">The value read in B; it may carry A's name yet come from another node.</param>
/// <param name="ProducerA">The node producing <paramref name="A"/> in A; null for graph inputs and initializers.</param>
/// <param name="ProducerB">The node producing <paramref name="B"/> in B; null for graph inputs and initializers.</param>
public sealed record EdgeRewire(string Node, int Input, string A, string B, string? ProducerA, string? ProducerB);

/// <summary>Initializer differences, matched by name.</summary>
/// <param name="Unchanged">Initializers equal in type, shape and bytes.</param>
/// <param name="SharedExternal">Of the unchanged, how many were proved equal without reading because both point at the same bytes of the same file.</param>
/// <param name="Added">Initializers only B has.</param>
/// <param name="Removed">Initializers only A has.</param>
/// <param name="Changed">Initializers in both whose type, shape or values differ.</param>
public sealed record InitializerDiff(
    IReadOnlyList<TensorInfo> Added,
    IReadOnlyList<TensorInfo> Removed,
    IReadOnlyList<TensorChange> Changed,
    int Unchanged,
    int SharedExternal);

/// <summary>An initializer present on one side only.</summary>
/// <param name="Steering">Statistics when the tensor is a steering scale vector, else null.</param>
/// <param name="Name">The initializer's name.</param>
/// <param name="Dtype">Its element type.</param>
/// <param name="Shape">Its dimensions.</param>
/// <param name="Elements">Its element count.</param>
public sealed record TensorInfo(string Name, string Dtype, IReadOnlyList<long> Shape, long Elements, SteeringVectorStats? Steering);

/// <summary>An initializer in both models whose type, shape or values differ.</summary>
/// <param name="Values">Element statistics when type and shape agree, else null.</param>
/// <param name="Steering">Steering statistics of B's tensor when it is a steering scale vector, else null.</param>
/// <param name="Name">The initializer's name.</param>
/// <param name="DtypeA">Its element type in A.</param>
/// <param name="DtypeB">Its element type in B.</param>
/// <param name="ShapeA">Its dimensions in A.</param>
/// <param name="ShapeB">Its dimensions in B.</param>
public sealed record TensorChange(
    string Name,
    string DtypeA, string DtypeB,
    IReadOnlyList<long> ShapeA, IReadOnlyList<long> ShapeB,
    ValueStats? Values,
    SteeringVectorStats? Steering);

/// <summary>Element-wise comparison of two tensors of one type and shape.</summary>
/// <param name="Elements">Elements compared.</param>
/// <param name="Differing">Elements whose stored bits differ.</param>
/// <param name="MaxAbsDiff">Largest |b - a| over elements (NaN pairs excluded); null for types without numeric values.</param>
/// <param name="FirstDifference">Flat index of the first differing element, or null.</param>
/// <param name="RowsScaled">For 2-D float tensors whose differing rows are each A's row times one factor: those rows and factors; else null.</param>
/// <param name="ColumnsScaled">Likewise for columns (checked over the rows that differ); else null.</param>
public sealed record ValueStats(long Elements, long Differing, double? MaxAbsDiff, long? FirstDifference,
    IReadOnlyList<ScaledSlice>? RowsScaled, IReadOnlyList<ScaledSlice>? ColumnsScaled);

/// <summary>Row (or column) <paramref name="Index"/> of B equals that of A times <paramref name="Factor"/>, up to the rounding of the stored type.</summary>
/// <param name="Index">The row or column.</param>
/// <param name="Factor">B's slice divided by A's.</param>
public sealed record ScaledSlice(long Index, double Factor);

/// <summary>A steering vector: a scale v (<c>….steer.scale</c>: unit i is multiplied by v_i = 1 + gamma_i) or a bias
/// (<c>….steer.bias</c>: b_i is added to unit i).</summary>
/// <param name="Operation">"scale" or "add".</param>
/// <param name="EntriesSteered">Entries ≠ 1 for a scale, ≠ 0 for a bias.</param>
/// <param name="MinGamma">Smallest v_i - 1 over steered entries of a scale; null for a bias or when none.</param>
/// <param name="MinOffset">Smallest b_i over steered entries of a bias; null for a scale or when none.</param>
/// <param name="Width">Entries in the vector.</param>
/// <param name="MaxGamma">Largest v_i - 1 over steered entries of a scale; null for a bias or when none.</param>
/// <param name="MaxOffset">Largest b_i over steered entries of a bias; null for a scale or when none.</param>
public sealed record SteeringVectorStats(string Operation, int Width, int EntriesSteered, double? MinGamma, double? MaxGamma, double? MinOffset, double? MaxOffset);

/// <summary>What a steering patch did, read from the graph structure and the model's metadata.</summary>
/// <param name="Sites">Every steered site, ordered by kind then layer.</param>
/// <param name="Kinds">Per site kind: layers and unit count.</param>
/// <param name="Metadata">The model's onnxsteer metadata_props (B), as stored.</param>
/// <param name="RestUnchanged">True when every difference is explained by the steering.</param>
/// <param name="OtherChanges">One line per difference the steering does not explain.</param>
public sealed record SteeringSummary(
    IReadOnlyList<SteeredSite> Sites,
    IReadOnlyList<SteeredKind> Kinds,
    IReadOnlyDictionary<string, string> Metadata,
    bool RestUnchanged,
    IReadOnlyList<string> OtherChanges);

/// <summary>One steered site.</summary>
/// <param name="Kind">"attn", "mlp", "mlp-out", or "unknown".</param>
/// <param name="Mode">"node" (an inserted Mul or Add), "folded" (rows or columns of the projection weight scaled) or
/// "vector" (a steering vector present in both models whose values differ; B's steering shown).</param>
/// <param name="Operation">"scale" (units carry gamma) or "add" (units carry an offset).</param>
/// <param name="Node">The inserted node, or the projection whose weight was folded.</param>
/// <param name="Tensor">The scale/bias initializer, or the folded weight.</param>
/// <param name="Gate">For a <c>patch --dynamic</c> site, what gates it (its probe and the value it reads); absent otherwise.</param>
/// <param name="Layer">The decoder layer.</param>
/// <param name="Units">The steered units.</param>
public sealed record SteeredSite(string Kind, int Layer, string Mode, string Operation, string Node, string Tensor, IReadOnlyList<SteeredUnit> Units,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Gate = null);

/// <summary>One steered unit: its activation index and, for a scale, gamma (the activation is multiplied by 1 + gamma);
/// for an add, the offset added to it.</summary>
/// <param name="Index">The unit's activation index.</param>
/// <param name="Gamma">Its gamma, for a scale; else null.</param>
/// <param name="Offset">Its offset, for an add; else null.</param>
public sealed record SteeredUnit(int Index, double? Gamma, double? Offset);

/// <summary>Per site kind: which layers and how many units; gamma range over its scaled units (null when none).</summary>
/// <param name="Kind">"attn", "mlp", "mlp-out" or "unknown".</param>
/// <param name="Layers">The layers steered.</param>
/// <param name="Units">Units steered over those layers.</param>
/// <param name="MinGamma">Smallest gamma; null when none.</param>
/// <param name="MaxGamma">Largest gamma; null when none.</param>
public sealed record SteeredKind(string Kind, IReadOnlyList<int> Layers, int Units, double? MinGamma, double? MaxGamma);

/// <summary>Both models run on one prompt: next-token distributions and, optionally, greedy continuations.</summary>
/// <param name="KlAB">KL(P_A || P_B) in nats over the full vocabulary.</param>
/// <param name="MaxAbsLogitDiff">max over the vocabulary of |logit_B - logit_A|.</param>
/// <param name="Prompt">The prompt text.</param>
/// <param name="PromptTokens">Its length in tokens (BOS included).</param>
/// <param name="TopA">A's most probable next tokens, most probable first.</param>
/// <param name="TopB">B's most probable next tokens.</param>
/// <param name="Generation">Both greedy continuations; null when none were asked.</param>
public sealed record PromptComparison(
    string Prompt,
    int PromptTokens,
    IReadOnlyList<TokenProbability> TopA,
    IReadOnlyList<TokenProbability> TopB,
    double KlAB,
    double MaxAbsLogitDiff,
    GenerationPair? Generation);

/// <summary>A token with its probability and logit.</summary>
/// <param name="Id">The token id.</param>
/// <param name="Text">The text it adds after the prompt.</param>
/// <param name="Probability">Its probability (softmax of the logits).</param>
/// <param name="Logit">Its logit.</param>
public sealed record TokenProbability(int Id, string Text, double Probability, double Logit);

/// <summary>Greedy continuations of both models.</summary>
/// <param name="FirstDivergence">Index of the first generated token that differs, or null when they agree.</param>
/// <param name="Tokens">Tokens generated by each model.</param>
/// <param name="A">A's continuation.</param>
/// <param name="B">B's continuation.</param>
/// <param name="IdsA">A's generated token ids.</param>
/// <param name="IdsB">B's generated token ids.</param>
public sealed record GenerationPair(int Tokens, string A, string B, IReadOnlyList<int> IdsA, IReadOnlyList<int> IdsB, int? FirstDivergence);
