using System.Globalization;
using System.Text.RegularExpressions;
using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Diffing;

/// <summary>
/// Reads a diff as a steering patch: inserted <c>…/steer/Mul</c> nodes with their scale vectors, projection weights
/// whose rows were scaled (folded steering), and onnxsteer metadata; then lists every difference those do not explain.
/// </summary>
internal static partial class SteeringAnalyzer
{
    /// <summary>Metadata keys written by the patcher start with this (case-insensitive).</summary>
    public const string MetadataPrefix = "onnxsteer";

    private static readonly string[] Projections = ["MatMul", "MatMulNBits", "Gemm"];

    /// <summary>The steering summary of <paramref name="report"/>, or null when B shows no steering.</summary>
    public static SteeringSummary? Analyze(DiffReport report, OnnxModel b, ModelSource sideB)
    {
        if (report.Identical) return null;
        var index = new GraphIndex(b.Graph);
        var recorded = RecordedSites.Read(b.Proto);
        var explained = new Explained();
        var sites = new List<SteeredSite>();

        foreach (var node in report.Nodes.Added)
            if (NodeSite(node, index, sideB, explained, report, recorded) is { } site) sites.Add(site);
        var recordedFolds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var change in report.Initializers.Changed)
            if (RecordedFolds(change, explained, recorded, recordedFolds) is { } folds) sites.AddRange(folds);
            else if (FoldedSite(change, index, explained, recorded) is { } site) sites.Add(site);
            else if (ChangedVectorSite(change, index, explained, recorded, sideB) is { } changed) sites.Add(changed);

        // Only keys that differ: both models may carry onnxsteer.* keys from the import (export_dtype, export_style).
        var changedKeys = report.Metadata.Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        var metadata = b.Proto.MetadataProps
            .Where(p => p.Key.StartsWith(MetadataPrefix, StringComparison.OrdinalIgnoreCase) && changedKeys.Contains(p.Key))
            .GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal);
        foreach (var m in report.Metadata)
            if (m.Name.StartsWith(MetadataPrefix, StringComparison.OrdinalIgnoreCase)) explained.Metadata.Add(m.Name);
        if (sites.Count == 0 && metadata.Count == 0) return null;

        sites.Sort((x, y) => (SiteOrder(x.Kind), x.Layer, x.Node).CompareTo((SiteOrder(y.Kind), y.Layer, y.Node)));
        var kinds = sites.GroupBy(s => s.Kind).OrderBy(g => SiteOrder(g.Key)).Select(g =>
        {
            var units = g.SelectMany(s => s.Units).ToList();
            var gammas = units.Where(u => u.Gamma is not null).Select(u => u.Gamma!.Value).ToList();
            return new SteeredKind(g.Key, g.Select(s => s.Layer).Distinct().Order().ToList(), units.Count,
                gammas.Count == 0 ? null : gammas.Min(), gammas.Count == 0 ? null : gammas.Max());
        }).ToList();
        var others = OtherChanges(report, explained);
        return new SteeringSummary(sites, kinds, new SortedDictionary<string, string>(metadata, StringComparer.Ordinal), others.Count == 0, others);
    }

    /// <summary>An added Mul (or Add) that applies a steering vector initializer to a value.</summary>
    private static SteeredSite? NodeSite(NodeInfo node, GraphIndex index, ModelSource sideB, Explained explained, DiffReport report, RecordedSites recorded)
    {
        if (node.OpType is not ("Mul" or "Add") || node.Inputs.Count != 2 || node.Outputs.Count != 1) return null;
        if (recorded.SwitchHelperNodes.Contains(node.Name)) return null; // a switchable factor's helper
        var scaleSlot = -1;
        TensorProto? vector = null;
        string? gateText = null;
        var gated = recorded.Gates.TryGetValue(node.Name, out var gate) && node.Inputs.Contains(gate.Factor);
        if (gated)
        {
            // patch --dynamic: the node reads the gated factor; the vector under it is the constant or the switch's factor.
            explained.Nodes.UnionWith(gate!.Nodes);
            explained.Initializers.UnionWith(gate.Initializers);
            gateText = $"gate sigmoid(w·h + b) on '{gate.Reads}'" +
                       (gate.Accuracy is { } acc ? $", probe held-out accuracy {acc.ToString("0.###", CultureInfo.InvariantCulture)}" : "");
        }
        var factorName = gated ? gate!.Factor : null;
        if (recorded.Switches.TryGetValue(node.Name, out var sw) && (node.Inputs.Contains(sw.Factor) || factorName is not null) && index.Initializer(sw.Vector) is { } switchVector)
        {
            // patch --switchable: the node reads a factor computed from an overridable vector and the strength input.
            scaleSlot = node.Inputs.ToList().IndexOf(factorName ?? sw.Factor);
            vector = switchVector;
            explained.Nodes.UnionWith(sw.Nodes);
            explained.Initializers.UnionWith(sw.Initializers.Append(sw.Strength));
            explained.Inputs.UnionWith([sw.Vector, sw.Strength]);
        }
        else if (gated && index.Initializer(gate!.Vector) is { } gatedVector)
        {
            scaleSlot = node.Inputs.ToList().IndexOf(gate.Factor);
            vector = gatedVector;
        }
        else
        {
            for (var i = 0; i < 2; i++)
                if (index.Initializer(node.Inputs[i]) is not null && (SteeringVectors.IsSteeringName(node.Inputs[i]) || scaleSlot < 0))
                    scaleSlot = i;
            if (scaleSlot < 0) return null;
            vector = index.Initializer(node.Inputs[scaleSlot])!;
        }
        if (!SteeringVectors.IsSteeringName(node.Name) && !SteeringVectors.IsSteeringName(vector.Name) && !recorded.ByNode.ContainsKey(node.Name))
            return null;
        var data = node.Inputs[1 - scaleSlot];
        var output = node.Outputs[0];

        explained.Nodes.Add(node.Name);
        if (report.Initializers.Added.Any(t => t.Name == vector.Name) || report.Initializers.Changed.Any(t => t.Name == vector.Name))
            explained.Initializers.Add(vector.Name);
        // Inserted on a projection's input: the projection now reads the steered value.
        foreach (var r in report.EdgesRewired.Where(r => r.B == output)) explained.Rewires.Add(r);
        // Inserted on a projection's output: the projection writes a new value the node reads, and the node takes over
        // the old name, so the old name's readers now have a new producer.
        if (index.Producer(data) is { } producer) explained.OutputRenames.Add(producer.Name);
        foreach (var r in report.EdgesRewired.Where(r => r.A == output && r.B == output)) explained.Rewires.Add(r);

        var (kind, layer) = recorded.ByNode.TryGetValue(node.Name, out var site)
            ? site
            : (KindFromStructure(data, output, index) ?? KindFromName(node.Name), Layer(node.Name) ?? Layer(data) ?? -1);
        var operation = node.OpType == "Add" ? "add" : "scale";
        return new SteeredSite(kind, layer, "node", operation, node.Name, vector.Name, SteeringVectors.Units(vector, sideB, operation), gateText);
    }

    /// <summary>
    /// A changed tensor that the model's steering record says a fold rewrote, with the gammas the record keeps: one
    /// site per recorded fold (a weight may carry two: mlp rows and mlp-out columns of one down projection; a site may
    /// rewrite two tensors: a weight and its bias), whatever the tensor's type (float, int4 or 8-bit block scales).
    /// Null when the record does not name the tensor or lacks the gammas (then the tensors are read instead).
    /// </summary>
    private static List<SteeredSite>? RecordedFolds(TensorChange change, Explained explained, RecordedSites recorded, HashSet<string> emitted)
    {
        if (!recorded.FoldedTensors.TryGetValue(change.Name, out var folds) || folds.Any(f => f.Gammas is null)) return null;
        explained.Initializers.Add(change.Name);
        return folds.Where(f => emitted.Add(f.Id))
            .Select(f => new SteeredSite(f.Kind, f.Layer, "folded", "scale", f.Projection, change.Name,
                f.Gammas!.Select(g => new SteeredUnit(g.Key, g.Value, null)).ToList()))
            .ToList();
    }

    /// <summary>
    /// A changed projection weight whose differing rows (input units) or columns (output units) are each the original
    /// times one factor: a steering vector folded into the weight. MatMul B[K,N] rows are input units (attn, mlp) and
    /// columns output units (mlp-out); Gemm with transB swaps them; MatMulNBits block scales have one row per output.
    /// </summary>
    private static SteeredSite? FoldedSite(TensorChange change, GraphIndex index, Explained explained, RecordedSites recorded)
    {
        if (change.Values is not { } values || (values.RowsScaled is null && values.ColumnsScaled is null)) return null;
        foreach (var node in index.Consumers(change.Name))
        {
            var slot = node.Input.IndexOf(change.Name);
            var transB = node.Attribute.Any(a => a.Name == "transB" && a.I != 0);
            IReadOnlyList<ScaledSlice>? inputUnits = null, outputUnits = null;
            if (node.OpType is "MatMul" or "Gemm" && slot == 1)
            {
                inputUnits = transB ? values.ColumnsScaled : values.RowsScaled;
                outputUnits = transB ? values.RowsScaled : values.ColumnsScaled;
            }
            else if (node.OpType == "MatMulNBits" && slot == 2)
            {
                outputUnits = values.RowsScaled;
            }
            else continue;

            string kind;
            IReadOnlyList<ScaledSlice> slices;
            var named = KindFromName(node.Name);
            if (recorded.ByFold.TryGetValue(node.Name, out var site))
            {
                kind = site.Kind;
                slices = (kind == "mlp-out" ? outputUnits : inputUnits) ?? [];
                if (slices.Count == 0) continue;
            }
            else if (inputUnits is { Count: > 0 } && (outputUnits is null || inputUnits.Count <= outputUnits.Count))
            {
                kind = named == "mlp-out" ? "mlp" : named;
                slices = inputUnits;
            }
            else if (outputUnits is { Count: > 0 })
            {
                kind = named is "mlp" or "mlp-out" ? "mlp-out" : "unknown";
                slices = outputUnits;
            }
            else continue;
            explained.Initializers.Add(change.Name);
            var units = slices.Select(r => new SteeredUnit((int)r.Index, r.Factor - 1, null)).ToList();
            var layer = recorded.ByFold.TryGetValue(node.Name, out var s) ? s.Layer : Layer(node.Name) ?? Layer(change.Name) ?? -1;
            return new SteeredSite(kind, layer, "folded", "scale", node.Name, change.Name, units);
        }
        return null;
    }

    /// <summary>
    /// A steering vector both models have, with other values in B (two steered copies that differ in strength or units):
    /// the site as B steers it, in mode "vector".
    /// </summary>
    private static SteeredSite? ChangedVectorSite(TensorChange change, GraphIndex index, Explained explained, RecordedSites recorded, ModelSource sideB)
    {
        if (!SteeringVectors.IsSteeringName(change.Name) || index.Initializer(change.Name) is not { } vector) return null;
        var node = index.Consumers(change.Name).FirstOrDefault(n => n.OpType is "Mul" or "Add");
        if (node is null) return null;
        explained.Initializers.Add(change.Name);
        var data = node.Input.First(i => i != change.Name);
        var (kind, layer) = recorded.ByNode.TryGetValue(node.Name, out var site)
            ? site
            : (KindFromStructure(data, node.Output[0], index) ?? KindFromName(node.Name), Layer(node.Name) ?? Layer(data) ?? -1);
        var operation = node.OpType == "Add" ? "add" : "scale";
        return new SteeredSite(kind, layer, "vector", operation, node.Name, change.Name, SteeringVectors.Units(vector, sideB, operation));
    }

    /// <summary>mlp-out when the steered value comes out of a down projection; attn/mlp when it feeds o_proj/down_proj.</summary>
    private static string? KindFromStructure(string data, string output, GraphIndex index)
    {
        if (index.Producer(data) is { } p && Projections.Contains(p.OpType) && p.Name.Contains("down_proj", StringComparison.OrdinalIgnoreCase))
            return "mlp-out";
        foreach (var c in index.Consumers(output).Where(c => Projections.Contains(c.OpType)))
        {
            if (c.Name.Contains("o_proj", StringComparison.OrdinalIgnoreCase)) return "attn";
            if (c.Name.Contains("down_proj", StringComparison.OrdinalIgnoreCase)) return "mlp";
        }
        return null;
    }

    private static string KindFromName(string name)
    {
        var n = name.ToLowerInvariant();
        if (n.Contains("mlp_out") || n.Contains("mlp-out") || n.Contains("mlpout")) return "mlp-out";
        if (n.Contains("o_proj") || n.Contains("attn") || n.Contains("attention")) return "attn";
        if (n.Contains("down_proj") || n.Contains("mlp")) return "mlp";
        return "unknown";
    }

    private static int SiteOrder(string kind) => kind switch { "attn" => 0, "mlp" => 1, "mlp-out" => 2, _ => 3 };

    private static int? Layer(string name)
    {
        var m = LayerPattern().Match(name);
        return m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    [GeneratedRegex(@"layers?[._/](\d+)", RegexOptions.IgnoreCase)]
    private static partial Regex LayerPattern();

    /// <summary>One line per difference not explained by the steering.</summary>
    private static List<string> OtherChanges(DiffReport r, Explained e)
    {
        var lines = new List<string>();
        lines.AddRange(r.Model.Select(c => $"model {c.Name} changed: {c.A} -> {c.B}"));
        lines.AddRange(r.Opsets.Select(c => $"opset '{(c.Domain.Length == 0 ? "ai.onnx" : c.Domain)}' changed: {c.A?.ToString() ?? "none"} -> {c.B?.ToString() ?? "none"}"));
        lines.AddRange(r.Metadata.Where(c => !e.Metadata.Contains(c.Name)).Select(c => $"metadata '{c.Name}' {c.Change}"));
        lines.AddRange(r.Inputs.Where(c => !e.Inputs.Contains(c.Name)).Select(c => $"graph input '{c.Name}' {c.Change}"));
        lines.AddRange(r.Outputs.Select(c => $"graph output '{c.Name}' {c.Change}"));
        lines.AddRange(r.Nodes.Added.Where(n => !e.Nodes.Contains(n.Name)).Select(n => $"node '{n.Name}' ({n.OpType}) added"));
        lines.AddRange(r.Nodes.Removed.Select(n => $"node '{n.Name}' ({n.OpType}) removed"));
        lines.AddRange(r.Nodes.Renamed.Select(n => $"node '{n.A}' renamed to '{n.B}'"));
        foreach (var n in r.Nodes.Changed)
        {
            var unexplained = n.Changes.Where(c => !(c.What == "outputs" && e.OutputRenames.Contains(n.Name))).ToList();
            if (unexplained.Count > 0) lines.Add($"node '{n.Name}' changed ({string.Join(", ", unexplained.Select(c => c.Name ?? c.What))})");
        }
        lines.AddRange(r.EdgesRewired.Where(x => !e.Rewires.Contains(x)).Select(x => $"node '{x.Node}' input {x.Input} rewired: {x.A} -> {x.B}"));
        lines.AddRange(r.Initializers.Added.Where(t => !e.Initializers.Contains(t.Name)).Select(t => $"initializer '{t.Name}' added"));
        lines.AddRange(r.Initializers.Removed.Select(t => $"initializer '{t.Name}' removed"));
        lines.AddRange(r.Initializers.Changed.Where(t => !e.Initializers.Contains(t.Name)).Select(t => $"initializer '{t.Name}' changed"));
        return lines;
    }

    /// <summary>The differences accounted for by the steering.</summary>
    private sealed class Explained
    {
        public HashSet<string> Nodes { get; } = new(StringComparer.Ordinal);
        public HashSet<string> Initializers { get; } = new(StringComparer.Ordinal);
        public HashSet<string> Metadata { get; } = new(StringComparer.Ordinal);
        /// <summary>Graph inputs added by --switchable (the overridable vectors and the strength).</summary>
        public HashSet<string> Inputs { get; } = new(StringComparer.Ordinal);
        /// <summary>Nodes whose output was renamed so an inserted node could take the old name.</summary>
        public HashSet<string> OutputRenames { get; } = new(StringComparer.Ordinal);
        public HashSet<EdgeRewire> Rewires { get; } = [];
    }
}
