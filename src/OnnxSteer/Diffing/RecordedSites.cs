using System.Globalization;
using System.Text.Json;
using Onnx;

namespace OnnxSteer.Diffing;

/// <summary>
/// The sites named in a model's steering record (metadata <c>onnxsteer.steering</c>, written by the patcher): which
/// inserted node or folded projection belongs to which site (e.g. <c>mlp-out.3</c>). Read leniently — a record this
/// reader does not understand just leaves the diff to the graph structure.
/// </summary>
internal sealed class RecordedSites
{
    /// <summary>Metadata key of the patcher's record.</summary>
    public const string Key = "onnxsteer.steering";

    /// <summary>Inserted node name → site.</summary>
    public Dictionary<string, (string Kind, int Layer)> ByNode { get; } = new(StringComparer.Ordinal);

    /// <summary>Folded projection node name → site.</summary>
    public Dictionary<string, (string Kind, int Layer)> ByFold { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Tensor name → the folds that rewrote it, in patch order: the site, its projection, and the gamma of each unit
    /// when the record has them (older records do not: the diff then reads the units from the tensors).
    /// </summary>
    public Dictionary<string, List<FoldParts>> FoldedTensors { get; } = new(StringComparer.Ordinal);

    /// <summary>One recorded fold.</summary>
    public sealed record FoldParts(string Id, string Kind, int Layer, string Projection, IReadOnlyDictionary<int, double>? Gammas);

    /// <summary>
    /// Inserted node name → what <c>patch --switchable</c> added around it: the vector initializer (also a graph input),
    /// the value the node reads, the helper nodes and constants, and the strength input.
    /// </summary>
    public Dictionary<string, SwitchParts> Switches { get; } = new(StringComparer.Ordinal);

    /// <summary>The helper nodes of every switchable or gated site (they compute a factor; none is a steering node itself).</summary>
    public HashSet<string> SwitchHelperNodes { get; } = new(StringComparer.Ordinal);

    /// <summary>Inserted node name → the gate <c>patch --dynamic</c> put in front of it.</summary>
    public Dictionary<string, GateParts> Gates { get; } = new(StringComparer.Ordinal);

    /// <summary>The pieces of one gated site: the gate value, the activation its probe reads, the factor the steering
    /// node reads, the vector it scales, its helper nodes and constants, and the probe's held-out accuracy.</summary>
    public sealed record GateParts(string Gate, string Reads, string Factor, string Vector, IReadOnlyList<string> Nodes, IReadOnlyList<string> Initializers, double? Accuracy);

    /// <summary>The pieces of one switchable site.</summary>
    public sealed record SwitchParts(string Vector, string Factor, IReadOnlyList<string> Nodes, IReadOnlyList<string> Initializers, string Strength);

    public static RecordedSites Read(ModelProto model)
    {
        var sites = new RecordedSites();
        var text = model.MetadataProps.LastOrDefault(p => p.Key == Key)?.Value;
        if (string.IsNullOrEmpty(text)) return sites;
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind != JsonValueKind.Array) return sites;
            foreach (var step in doc.RootElement.EnumerateArray())
            {
                if (!step.TryGetProperty("edits", out var edits) || edits.ValueKind != JsonValueKind.Array) continue;
                foreach (var edit in edits.EnumerateArray())
                {
                    if (ParseSite(Str(edit, "site")) is not { } site) continue;
                    if (Str(edit, "kind") == "fold" && Str(edit, "projection") is { } projection)
                    {
                        sites.ByFold[projection] = site;
                        var fold = new FoldParts(Str(edit, "site")!, site.Kind, site.Layer, projection, Gammas(edit));
                        foreach (var tensor in TensorNames(edit))
                            (sites.FoldedTensors.TryGetValue(tensor, out var list) ? list : sites.FoldedTensors[tensor] = []).Add(fold);
                    }
                    else if (Str(edit, "node") is { } node)
                    {
                        sites.ByNode[node] = site;
                        if (edit.TryGetProperty("switch", out var sw) && ReadSwitch(sw, Str(edit, "initializer")) is { } parts)
                        {
                            sites.Switches[node] = parts;
                            sites.SwitchHelperNodes.UnionWith(parts.Nodes);
                        }
                        if (edit.TryGetProperty("gate", out var gate) && ReadGate(gate) is { } gateParts)
                        {
                            sites.Gates[node] = gateParts;
                            sites.SwitchHelperNodes.UnionWith(gateParts.Nodes);
                        }
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not a record this version understands: the structural reading stands alone.
        }
        return sites;
    }

    /// <summary>The names of a fold's original tensors (each a base64 TensorProto).</summary>
    private static IEnumerable<string> TensorNames(JsonElement edit)
    {
        foreach (var encoded in Strings(edit, "original_tensors"))
        {
            string? name;
            try { name = TensorProto.Parser.ParseFrom(Convert.FromBase64String(encoded)).Name; }
            catch (Exception e) when (e is FormatException or Google.Protobuf.InvalidProtocolBufferException) { name = null; }
            if (!string.IsNullOrEmpty(name)) yield return name;
        }
    }

    private static Dictionary<int, double>? Gammas(JsonElement edit)
    {
        if (!edit.TryGetProperty("gammas", out var g) || g.ValueKind != JsonValueKind.Object) return null;
        var result = new Dictionary<int, double>();
        foreach (var p in g.EnumerateObject())
            if (int.TryParse(p.Name, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) && p.Value.ValueKind == JsonValueKind.Number)
                result[i] = p.Value.GetDouble();
        return result;
    }

    private static SwitchParts? ReadSwitch(JsonElement sw, string? vector)
    {
        if (vector is null || Str(sw, "factor") is not { } factor || Str(sw, "strength") is not { } strength) return null;
        return new SwitchParts(vector, factor, Strings(sw, "nodes"), Strings(sw, "initializers"), strength);
    }

    private static GateParts? ReadGate(JsonElement g)
    {
        if (Str(g, "gate") is not { } gate || Str(g, "factor") is not { } factor || Str(g, "vector") is not { } vector) return null;
        double? accuracy = g.TryGetProperty("probe_accuracy", out var a) && a.ValueKind == JsonValueKind.Number ? a.GetDouble() : null;
        return new GateParts(gate, Str(g, "reads") ?? "", factor, vector, Strings(g, "nodes"), Strings(g, "initializers"), accuracy);
    }

    private static List<string> Strings(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array
            ? v.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToList()
            : [];

    private static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>"mlp-out.3" → ("mlp-out", 3).</summary>
    private static (string Kind, int Layer)? ParseSite(string? id)
    {
        if (id is null) return null;
        var dot = id.LastIndexOf('.');
        if (dot <= 0 || !int.TryParse(id[(dot + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var layer)) return null;
        return (id[..dot], layer);
    }
}
