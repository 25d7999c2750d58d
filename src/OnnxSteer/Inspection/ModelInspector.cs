using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Inspection;

/// <summary>Summarises a model and finds its steering sites, without reading its external weights.</summary>
public static class ModelInspector
{
    /// <summary>
    /// Summarises the model at <paramref name="modelPath"/> (a .onnx file, or a folder holding one) and finds its
    /// steering sites. A model without sites is still summarised: its empty site list comes with
    /// <see cref="ModelSummary.SiteError"/> saying why.
    /// </summary>
    /// <param name="modelPath">The .onnx file or its folder.</param>
    /// <exception cref="InvalidModelException">No model there, or the file is not an ONNX model.</exception>
    public static ModelSummary Inspect(string modelPath) => Inspect(OnnxModel.Load(modelPath));

    /// <summary>Summarises <paramref name="model"/> and finds its steering sites (an empty site list comes with <see cref="ModelSummary.SiteError"/>).</summary>
    internal static ModelSummary Inspect(OnnxModel model)
    {
        var proto = model.Proto;
        var graph = model.Graph;
        var path = model.FilePath ?? "(in-memory model)";
        var sites = SiteFinder.Scan(model);
        var initializerNames = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        return new ModelSummary(
            path,
            proto.IrVersion,
            proto.ProducerName ?? "",
            proto.ProducerVersion ?? "",
            proto.OpsetImport.Select(o => new OpsetSummary(o.Domain is null or "ai.onnx" ? "" : o.Domain, o.Version)).ToList(),
            graph.Name ?? "",
            graph.Node.Count,
            graph.Node.GroupBy(n => (Domain: n.Domain is null or "ai.onnx" ? "" : n.Domain, n.OpType))
                .Select(g => new OpTypeCount(g.Key.Domain, g.Key.OpType, g.Count()))
                .OrderByDescending(c => c.Count).ThenBy(c => c.Domain, StringComparer.Ordinal).ThenBy(c => c.OpType, StringComparer.Ordinal)
                .ToList(),
            graph.Input.Where(i => !initializerNames.Contains(i.Name)).Select(Describe).ToList(),
            graph.Output.Select(Describe).ToList(),
            SummariseInitializers(graph),
            SummariseDataFiles(graph, model.BaseDirectory),
            proto.MetadataProps.Select(p => new KeyValuePair<string, string>(p.Key, p.Value)).ToList(),
            sites,
            sites.Sites.Count == 0 ? SiteFinder.NoSitesMessage(path, sites) : null);
    }

    /// <summary>Lower-case ONNX name of an element type code ("float", "float16", "int64", ...), or "type N" for an unknown code.</summary>
    public static string ElementTypeName(int dataType) =>
        Enum.IsDefined(typeof(TensorProto.Types.DataType), dataType)
            ? ((TensorProto.Types.DataType)dataType).ToString().ToLowerInvariant()
            : $"type {dataType}";

    private static ValueSummary Describe(ValueInfoProto value)
    {
        var tensor = value.Type?.TensorType;
        if (tensor is null) return new ValueSummary(value.Name, value.Type is null ? "unknown" : "non-tensor", null);
        var shape = tensor.Shape?.Dim.Select(d => new Dimension(d.HasDimValue ? d.DimValue : null, !d.HasDimValue && d.HasDimParam ? d.DimParam : null)).ToList();
        return new ValueSummary(value.Name, ElementTypeName(tensor.ElemType), shape);
    }

    private static InitializerSummary SummariseInitializers(GraphProto graph)
    {
        int inlineCount = 0, externalCount = 0;
        long inlineBytes = 0, externalBytes = 0;
        foreach (var tensor in graph.Initializer)
        {
            if (IsExternal(tensor))
            {
                externalCount++;
                externalBytes += ExternalLength(tensor) ?? 0;
            }
            else
            {
                inlineCount++;
                inlineBytes += InlineBytes(tensor);
            }
        }
        return new InitializerSummary(graph.Initializer.Count, inlineCount, inlineBytes, externalCount, externalBytes, graph.SparseInitializer.Count);
    }

    private static IReadOnlyList<DataFileSummary> SummariseDataFiles(GraphProto graph, string baseDirectory)
    {
        var files = new List<DataFileSummary>();
        foreach (var group in graph.Initializer.Where(IsExternal).GroupBy(t => Entry(t, "location") ?? "", StringComparer.Ordinal))
        {
            var location = group.Key;
            var safe = location.Length > 0 && !Path.IsPathRooted(location) && !location.Replace('\\', '/').Split('/').Contains("..");
            var full = safe ? Path.Combine(baseDirectory, location) : null;
            var exists = full is not null && File.Exists(full);
            files.Add(new DataFileSummary(location, group.Count(), group.Sum(t => ExternalLength(t) ?? 0),
                exists ? new FileInfo(full!).Length : null, exists));
        }
        return files.OrderBy(f => f.Location, StringComparer.Ordinal).ToList();
    }

    private static bool IsExternal(TensorProto tensor) => tensor.DataLocation == TensorProto.Types.DataLocation.External;

    private static string? Entry(TensorProto tensor, string key) => tensor.ExternalData.FirstOrDefault(e => e.Key == key)?.Value;

    /// <summary>The "length" entry, else the packed size from dims and type (the spec allows either).</summary>
    private static long? ExternalLength(TensorProto tensor)
    {
        if (long.TryParse(Entry(tensor, "length"), out var length)) return length;
        var packed = PackedBytes(tensor.DataType, tensor.Dims.Aggregate(1L, (a, b) => a * b));
        return packed >= 0 ? packed : null;
    }

    /// <summary>Bytes an inline tensor's values take: raw_data's length, else the packed size of the typed field's values.</summary>
    private static long InlineBytes(TensorProto tensor)
    {
        if (tensor.RawData.Length > 0) return tensor.RawData.Length;
        if (tensor.StringData.Count > 0) return tensor.StringData.Sum(s => (long)s.Length);
        var elements = tensor.Dims.Aggregate(1L, (a, b) => a * b);
        var hasValues = tensor.FloatData.Count + tensor.Int32Data.Count + tensor.Int64Data.Count + tensor.DoubleData.Count + tensor.Uint64Data.Count > 0;
        return hasValues ? Math.Max(0, PackedBytes(tensor.DataType, elements)) : 0;
    }

    private static long PackedBytes(int dataType, long elements)
    {
        var bits = (TensorProto.Types.DataType)dataType switch
        {
            TensorProto.Types.DataType.Double or TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Uint64
                or TensorProto.Types.DataType.Complex64 => 64,
            TensorProto.Types.DataType.Complex128 => 128,
            TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Uint32 => 32,
            TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16 or TensorProto.Types.DataType.Int16
                or TensorProto.Types.DataType.Uint16 => 16,
            TensorProto.Types.DataType.Uint4 or TensorProto.Types.DataType.Int4 or TensorProto.Types.DataType.Float4E2M1 => 4,
            TensorProto.Types.DataType.Uint2 or TensorProto.Types.DataType.Int2 => 2,
            TensorProto.Types.DataType.String or TensorProto.Types.DataType.Undefined => 0,
            _ => 8,
        };
        return bits == 0 ? -1 : (elements * bits + 7) / 8;
    }
}
