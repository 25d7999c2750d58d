using System.Globalization;
using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Diffing;

/// <summary>
/// Compares two ONNX models — typically an original and its steered copy — structurally and numerically and
/// returns a <see cref="DiffReport"/>. Neither model is modified; external weights are streamed, never loaded whole.
/// </summary>
public static class ModelDiffer
{
    /// <summary>Loads both models and compares them: structure, weights, metadata and, when B is a steered copy of A, what
    /// the steering did. Neither file is modified.</summary>
    /// <param name="pathA">The original model (.onnx file, or a folder holding the model).</param>
    /// <param name="pathB">The changed (e.g. steered) model.</param>
    /// <exception cref="InvalidModelException">A file is missing or is not a readable ONNX model.</exception>
    public static DiffReport Compare(string pathA, string pathB) =>
        Compare(OnnxModel.Load(pathA), OnnxModel.Load(pathB), pathA, pathB);

    /// <summary>Compares model <paramref name="a"/> (original) with <paramref name="b"/> (changed).</summary>
    /// <param name="a">The original model.</param>
    /// <param name="b">The changed model.</param>
    /// <param name="displayA">How A is named in the report (default: its file path).</param>
    /// <param name="displayB">How B is named in the report.</param>
    internal static DiffReport Compare(OnnxModel a, OnnxModel b, string? displayA = null, string? displayB = null)
    {
        var sourceA = new ModelSource(displayA ?? a.FilePath ?? "A", a.BaseDirectory);
        var sourceB = new ModelSource(displayB ?? b.FilePath ?? "B", b.BaseDirectory);
        var ga = a.Graph;
        var gb = b.Graph;

        var model = ModelFields(a.Proto, b.Proto);
        var opsets = Opsets(a.Proto, b.Proto);
        var metadata = KeyedChanges(
            a.Proto.MetadataProps.GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.Last().Value),
            b.Proto.MetadataProps.GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.Last().Value));
        var inputs = KeyedChanges(TypesByName(ga.Input), TypesByName(gb.Input));
        var outputs = KeyedChanges(TypesByName(ga.Output), TypesByName(gb.Output));

        var matching = NodeMatcher.Match(ga, gb);
        var indexA = new Graph.GraphIndex(ga);
        var indexB = new Graph.GraphIndex(gb);
        var nodes = Nodes(matching);
        var rewired = matching.Pairs.SelectMany(p => Rewired(matching, p.A, p.B))
            .Select(r => r with { ProducerA = indexA.Producer(r.A)?.Name, ProducerB = indexB.Producer(r.B)?.Name })
            .ToList();
        var initializers = Initializers(ga, sourceA, gb, sourceB);

        var counts = new DiffCounts(
            nodes.Added.Count, nodes.Removed.Count, nodes.Changed.Count, nodes.Renamed.Count, rewired.Count,
            initializers.Added.Count, initializers.Removed.Count, initializers.Changed.Count,
            model.Count + opsets.Count + metadata.Count + inputs.Count + outputs.Count);
        var identical = counts == new DiffCounts(0, 0, 0, 0, 0, 0, 0, 0, 0);

        var report = new DiffReport
        {
            A = new ModelSide(sourceA.Path, ga.Node.Count, ga.Initializer.Count),
            B = new ModelSide(sourceB.Path, gb.Node.Count, gb.Initializer.Count),
            Identical = identical,
            Summary = counts,
            Model = model,
            Opsets = opsets,
            Metadata = metadata,
            Inputs = inputs,
            Outputs = outputs,
            Nodes = nodes,
            EdgesRewired = rewired,
            Initializers = initializers,
        };
        return report with { Steering = SteeringAnalyzer.Analyze(report, b, sourceB) };
    }

    private static List<ValueChange> ModelFields(ModelProto a, ModelProto b)
    {
        var fields = new (string Name, Func<ModelProto, string> Get)[]
        {
            ("ir_version", m => m.IrVersion.ToString(CultureInfo.InvariantCulture)),
            ("producer_name", m => m.ProducerName),
            ("producer_version", m => m.ProducerVersion),
            ("domain", m => m.Domain),
            ("model_version", m => m.ModelVersion.ToString(CultureInfo.InvariantCulture)),
            ("doc_string", m => ProtoText.Clip(m.DocString)),
            ("graph.name", m => m.Graph.Name),
            ("graph.doc_string", m => ProtoText.Clip(m.Graph.DocString)),
            ("graph.metadata_props", m => string.Join(";", m.Graph.MetadataProps.Select(p => p.Key + "=" + p.Value))),
            // Whole collections the diff does not break down: reported when they differ as sets.
            ("graph.value_info", m => SetSummary(m.Graph.ValueInfo, "entries")),
            ("graph.sparse_initializer", m => SetSummary(m.Graph.SparseInitializer, "tensors")),
            ("graph.quantization_annotation", m => SetSummary(m.Graph.QuantizationAnnotation, "entries")),
            ("functions", m => SetSummary(m.Functions, "functions")),
            ("training_info", m => SetSummary(m.TrainingInfo, "entries")),
        };
        var changes = new List<ValueChange>();
        foreach (var (name, get) in fields)
        {
            string va = get(a), vb = get(b);
            if (va != vb) changes.Add(new ValueChange(name, "changed", va, vb));
        }
        return changes;
    }

    /// <summary>"N entries" plus a content hash, so equal sets in any order compare equal and different ones do not.</summary>
    private static string SetSummary<T>(IEnumerable<T> items, string noun) where T : IMessage
    {
        var hashes = items.Select(i => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(i.ToByteArray()))).Order(StringComparer.Ordinal).ToList();
        if (hashes.Count == 0) return $"0 {noun}";
        var combined = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(string.Concat(hashes))));
        return $"{hashes.Count} {noun} (sha256 {combined[..12].ToLowerInvariant()})";
    }

    private static List<OpsetChange> Opsets(ModelProto a, ModelProto b)
    {
        static Dictionary<string, long> Of(ModelProto m) => m.OpsetImport
            .GroupBy(o => o.Domain is "ai.onnx" ? "" : o.Domain)
            .ToDictionary(g => g.Key, g => g.Last().Version, StringComparer.Ordinal);
        var oa = Of(a);
        var ob = Of(b);
        return oa.Keys.Union(ob.Keys).Order(StringComparer.Ordinal)
            .Select(d => new OpsetChange(d, oa.TryGetValue(d, out var va) ? va : null, ob.TryGetValue(d, out var vb) ? vb : null))
            .Where(c => c.A != c.B)
            .ToList();
    }

    private static Dictionary<string, string> TypesByName(IEnumerable<ValueInfoProto> values) =>
        values.GroupBy(v => v.Name).ToDictionary(g => g.Key, g => ProtoText.Type(g.Last().Type), StringComparer.Ordinal);

    /// <summary>Added, removed and changed entries of two keyed collections, sorted by key.</summary>
    private static List<ValueChange> KeyedChanges(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
    {
        var changes = new List<ValueChange>();
        foreach (var key in a.Keys.Union(b.Keys).Order(StringComparer.Ordinal))
        {
            var inA = a.TryGetValue(key, out var va);
            var inB = b.TryGetValue(key, out var vb);
            if (inA && inB && va == vb) continue;
            changes.Add(new ValueChange(key, !inA ? "added" : !inB ? "removed" : "changed", va, vb));
        }
        return changes;
    }

    private static NodeDiff Nodes(NodeMatching m)
    {
        var renamed = new List<NodeRename>();
        var changed = new List<NodeChange>();
        var unchanged = 0;
        foreach (var (na, nb) in m.Pairs)
        {
            var fields = NodeFieldChanges(na, nb, compareOutputs: m.ByName.Contains(nb));
            if (na.Name != nb.Name) renamed.Add(new NodeRename(na.Name, nb.Name, nb.OpType));
            if (fields.Count > 0) changed.Add(new NodeChange(nb.Name, fields));
            else if (na.Name == nb.Name && !Rewired(m, na, nb).Any()) unchanged++;
        }
        return new NodeDiff(m.OnlyB.Select(Info).ToList(), m.OnlyA.Select(Info).ToList(), renamed, changed, unchanged);
    }

    private static NodeInfo Info(NodeProto n) => new(n.Name, n.OpType, n.Domain, n.Input.ToList(), n.Output.ToList());

    /// <summary>
    /// Op type, domain, attributes and — for nodes matched by name — output names. Output names of nodes matched by
    /// structure usually follow the node's new name and are part of the rename.
    /// </summary>
    private static List<NodeFieldChange> NodeFieldChanges(NodeProto a, NodeProto b, bool compareOutputs)
    {
        var changes = new List<NodeFieldChange>();
        if (a.OpType != b.OpType) changes.Add(new NodeFieldChange("op_type", null, a.OpType, b.OpType));
        if (Domain(a) != Domain(b)) changes.Add(new NodeFieldChange("domain", null, a.Domain, b.Domain));
        var attrsA = a.Attribute.GroupBy(x => x.Name).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        var attrsB = b.Attribute.GroupBy(x => x.Name).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        foreach (var name in attrsA.Keys.Union(attrsB.Keys).Order(StringComparer.Ordinal))
        {
            attrsA.TryGetValue(name, out var xa);
            attrsB.TryGetValue(name, out var xb);
            if (xa is not null && xb is not null && xa.Equals(xb)) continue;
            var ta = xa is null ? null : ProtoText.Attribute(xa);
            var tb = xb is null ? null : ProtoText.Attribute(xb);
            // Different protobufs with one text (e.g. a subgraph edited inside): say so rather than show two equal strings.
            if (ta is not null && ta == tb) tb += " (contents differ)";
            changes.Add(new NodeFieldChange("attribute", name, ta, tb));
        }
        if (compareOutputs && !a.Output.SequenceEqual(b.Output))
            changes.Add(new NodeFieldChange("outputs", null, string.Join(", ", a.Output), string.Join(", ", b.Output)));
        return changes;
    }

    private static string Domain(NodeProto n) => n.Domain is "ai.onnx" ? "" : n.Domain;

    /// <summary>Input slots of a matched pair where B reads something other than the counterpart of A's value.</summary>
    private static IEnumerable<EdgeRewire> Rewired(NodeMatching m, NodeProto a, NodeProto b)
    {
        for (var i = 0; i < Math.Max(a.Input.Count, b.Input.Count); i++)
        {
            var va = i < a.Input.Count ? a.Input[i] : "";
            var vb = i < b.Input.Count ? b.Input[i] : "";
            if (m.MapToA(vb) == va) continue;
            yield return new EdgeRewire(b.Name, i, va, vb, null, null);
        }
    }

    private static InitializerDiff Initializers(GraphProto ga, ModelSource sa, GraphProto gb, ModelSource sb)
    {
        var byNameA = ga.Initializer.GroupBy(t => t.Name).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        var byNameB = gb.Initializer.GroupBy(t => t.Name).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        var added = new List<TensorInfo>();
        var removed = new List<TensorInfo>();
        var changed = new List<TensorChange>();
        int unchanged = 0, shared = 0;
        foreach (var name in byNameA.Keys.Union(byNameB.Keys).Order(StringComparer.Ordinal))
        {
            byNameA.TryGetValue(name, out var ta);
            byNameB.TryGetValue(name, out var tb);
            if (ta is null) { added.Add(TensorInfoOf(tb!, sb)); continue; }
            if (tb is null) { removed.Add(TensorInfoOf(ta, sa)); continue; }
            var sameLayout = ta.DataType == tb.DataType && ta.Dims.SequenceEqual(tb.Dims);
            if (sameLayout)
            {
                var cmp = TensorComparer.Compare(ta, sa, tb, sb);
                if (cmp.Equal)
                {
                    unchanged++;
                    if (cmp.Shared) shared++;
                    continue;
                }
                changed.Add(ChangeOf(ta, tb, cmp.Values, sb));
            }
            else
            {
                changed.Add(ChangeOf(ta, tb, null, sb));
            }
        }
        return new InitializerDiff(added, removed, changed, unchanged, shared);
    }

    private static TensorInfo TensorInfoOf(TensorProto t, ModelSource side) =>
        new(t.Name, DataTypes.Name(t.DataType), t.Dims.ToList(), DataTypes.ElementCount(t.Dims), SteeringVectors.StatsIfSteering(t, side));

    private static TensorChange ChangeOf(TensorProto a, TensorProto b, ValueStats? values, ModelSource sideB) =>
        new(b.Name, DataTypes.Name(a.DataType), DataTypes.Name(b.DataType), a.Dims.ToList(), b.Dims.ToList(),
            values, SteeringVectors.StatsIfSteering(b, sideB));
}
