using OnnxSteer.Sites;

namespace OnnxSteer.Inspection;

/// <summary>
/// What <c>onnxsteer inspect</c> reports about a model: format versions, operators, inputs and outputs, where the
/// weights are, metadata (patched models record their steering there), and the steering sites.
/// </summary>
/// <param name="ModelPath">Full path of the model file.</param>
/// <param name="IrVersion">ONNX IR version.</param>
/// <param name="ProducerName">producer_name, or "".</param>
/// <param name="ProducerVersion">producer_version, or "".</param>
/// <param name="Opsets">Imported opsets (domain "" is the default ONNX domain).</param>
/// <param name="GraphName">The main graph's name.</param>
/// <param name="NodeCount">Nodes in the main graph (not counting subgraphs).</param>
/// <param name="OpTypes">Node counts per (domain, op type), most frequent first.</param>
/// <param name="Inputs">Graph inputs that are not initializers.</param>
/// <param name="Outputs">Graph outputs.</param>
/// <param name="Initializers">Counts and byte totals of the main graph's initializers.</param>
/// <param name="DataFiles">External data files the initializers reference.</param>
/// <param name="Metadata">The model's metadata_props, in file order.</param>
/// <param name="Sites">Steering sites and the warnings raised finding them.</param>
/// <param name="SiteError">Why no site was found, or null when some were.</param>
internal sealed record ModelSummary(
    string ModelPath,
    long IrVersion,
    string ProducerName,
    string ProducerVersion,
    IReadOnlyList<OpsetSummary> Opsets,
    string GraphName,
    int NodeCount,
    IReadOnlyList<OpTypeCount> OpTypes,
    IReadOnlyList<ValueSummary> Inputs,
    IReadOnlyList<ValueSummary> Outputs,
    InitializerSummary Initializers,
    IReadOnlyList<DataFileSummary> DataFiles,
    IReadOnlyList<KeyValuePair<string, string>> Metadata,
    SiteReport Sites,
    string? SiteError);

/// <summary>One opset import.</summary>
internal sealed record OpsetSummary(string Domain, long Version);

/// <summary>How many nodes of one op type the main graph has.</summary>
internal sealed record OpTypeCount(string Domain, string OpType, int Count);

/// <summary>A graph input or output: element type name and dimensions (a number, a symbolic name, or null when unknown).</summary>
internal sealed record ValueSummary(string Name, string ElementType, IReadOnlyList<object?>? Shape);

/// <summary>Initializer counts and sizes. Inline bytes are the stored size; external bytes are the referenced lengths.</summary>
internal sealed record InitializerSummary(int Count, int InlineCount, long InlineBytes, int ExternalCount, long ExternalBytes, int SparseCount);

/// <summary>
/// One external data file: how many tensors reference it and how many bytes they span, and its size on disk
/// (null when it is missing or its location is unsafe: absolute or containing "..").
/// </summary>
internal sealed record DataFileSummary(string Location, int Tensors, long ReferencedBytes, long? SizeOnDisk, bool Exists);
