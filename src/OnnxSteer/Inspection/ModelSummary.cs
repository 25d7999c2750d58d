using OnnxSteer.Sites;

namespace OnnxSteer.Inspection;

/// <summary>
/// What <see cref="ModelInspector.Inspect(string)"/> finds in a model (and <c>onnxsteer inspect</c> prints): format
/// versions, operators, inputs and outputs, where the weights are, metadata (patched models record their steering
/// there), and the steering sites. An immutable value; the external weights are never read.
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
public sealed record ModelSummary(
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
/// <param name="Domain">The operator domain; "" is the default ONNX domain.</param>
/// <param name="Version">The opset version.</param>
public sealed record OpsetSummary(string Domain, long Version);

/// <summary>How many nodes of one op type the main graph has.</summary>
/// <param name="Domain">The operator domain; "" is the default ONNX domain.</param>
/// <param name="OpType">The operator, e.g. <c>MatMul</c>.</param>
/// <param name="Count">Nodes of that operator.</param>
public sealed record OpTypeCount(string Domain, string OpType, int Count);

/// <summary>A graph input or output.</summary>
/// <param name="Name">The value's name.</param>
/// <param name="ElementType">Lower-case element type name (<c>float</c>, <c>int64</c>, ...; "non-tensor" or "unknown" otherwise).</param>
/// <param name="Shape">The dimensions, or null when the graph gives no shape.</param>
public sealed record ValueSummary(string Name, string ElementType, IReadOnlyList<Dimension>? Shape);

/// <summary>One dimension of a shape: a size, a symbolic name (<c>batch_size</c>), or neither when unknown.</summary>
/// <param name="Size">The size, when the graph fixes it.</param>
/// <param name="Symbol">The symbolic name, when the graph gives one instead.</param>
public readonly record struct Dimension(long? Size, string? Symbol)
{
    /// <summary>The size, else the symbol, else "?".</summary>
    public override string ToString() => Size?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? Symbol ?? "?";
}

/// <summary>Initializer counts and sizes of the main graph.</summary>
/// <param name="Count">Initializers in all.</param>
/// <param name="InlineCount">Initializers stored in the model file.</param>
/// <param name="InlineBytes">Bytes they take (the stored size).</param>
/// <param name="ExternalCount">Initializers in external data files.</param>
/// <param name="ExternalBytes">Bytes they reference (the lengths recorded in the model).</param>
/// <param name="SparseCount">Sparse initializers.</param>
public sealed record InitializerSummary(int Count, int InlineCount, long InlineBytes, int ExternalCount, long ExternalBytes, int SparseCount);

/// <summary>One external data file the initializers reference.</summary>
/// <param name="Location">The location as the model records it (relative to the model's folder).</param>
/// <param name="Tensors">Tensors stored in it.</param>
/// <param name="ReferencedBytes">Bytes those tensors span.</param>
/// <param name="SizeOnDisk">The file's size, or null when it is missing or its location is unsafe (absolute or containing "..").</param>
/// <param name="Exists">Whether the file is there (and its location safe).</param>
public sealed record DataFileSummary(string Location, int Tensors, long ReferencedBytes, long? SizeOnDisk, bool Exists);
