using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.Sites;

namespace OnnxSteer.HostFormats;

/// <summary>
/// The <c>residual</c> site of decoder layer N: the layer's output, i.e. the hidden state after the MLP's residual add
/// (where llama.cpp and repeng add a control vector).
/// </summary>
/// <param name="Layer">0-based decoder layer.</param>
/// <param name="MlpOut">The layer's mlp-out site: the value the residual add consumes from the MLP.</param>
/// <param name="ResidualNode">The node that adds it to the residual stream (an Add, or a fused Skip*LayerNormalization).</param>
/// <param name="OutputValue">The layer's output value (the Add's output, or the fused node's residual sum output when it has one).</param>
internal sealed record ResidualSite(int Layer, SteeringSite MlpOut, string ResidualNode, string? OutputValue)
{
    /// <summary>Identifier <c>residual.N</c>.</summary>
    public string Id => $"residual.{Layer}";

    /// <summary>Width: the hidden size.</summary>
    public int Width => MlpOut.Width;
}

/// <summary>
/// Finds residual sites. They are not a fourth <see cref="SiteKind"/>: adding a vector c to layer N's output equals adding
/// it to the MLP output m before the residual add, (h + m) + c = h + (m + c) up to one float rounding, and the
/// mlp-out site already exists for every export style, dtype and projection type. So additive steering of a residual
/// site is an Add at mlp-out.N; what this class checks is that the equivalence holds in the graph: the mlp-out value
/// must feed the residual sum directly, through an <c>Add</c> whose other input is computed (not a constant), or as input
/// or skip of a com.microsoft <c>SkipLayerNormalization</c> / <c>SkipSimplifiedLayerNormalization</c> (which computes
/// input + skip and normalizes it). A norm in between (Gemma-2's post-feed-forward norm) breaks it and is refused.
/// </summary>
internal static class ResidualSites
{
    private static readonly HashSet<string> FusedSkipNorms = new(StringComparer.Ordinal) { "SkipLayerNormalization", "SkipSimplifiedLayerNormalization" };

    /// <summary>
    /// One residual site per mlp-out site of <paramref name="sites"/>, in layer order. Throws an
    /// <see cref="InvalidModelException"/> naming <paramref name="source"/> and the layer when the mlp-out value does not feed
    /// the residual sum directly.
    /// </summary>
    public static IReadOnlyList<ResidualSite> Find(GraphProto graph, IReadOnlyList<SteeringSite> sites, string source)
    {
        var index = new GraphIndex(graph);
        var result = new List<ResidualSite>();
        foreach (var site in sites.Where(s => s.Kind == SiteKind.MlpOut).OrderBy(s => s.Layer))
            result.Add(Resolve(index, site, source));
        if (result.Count == 0) throw new InvalidModelException($"{source}: no mlp-out site, so no decoder layer output to add a control vector to");
        return result;
    }

    private static ResidualSite Resolve(GraphIndex index, SteeringSite site, string source)
    {
        var consumers = index.Consumers(site.ValueName);
        var problem = consumers.Count switch
        {
            0 => "is read by no node",
            > 1 => $"is read by {consumers.Count} nodes ({string.Join(", ", consumers.Select(Describe))})",
            _ => null,
        };
        if (problem is null)
        {
            var node = consumers[0];
            var position = node.Input.IndexOf(site.ValueName);
            if (node.OpType == "Add" && node.Domain is "" or "ai.onnx" && node.Input.Count == 2)
            {
                var other = node.Input[1 - position];
                if (index.Initializer(other) is null && index.Producer(other)?.OpType != "Constant")
                    return new ResidualSite(site.Layer, site, node.Name, node.Output[0]);
                problem = $"feeds {Describe(node)}, whose other input is a constant (a bias, not the residual stream)";
            }
            else if (FusedSkipNorms.Contains(node.OpType) && node.Domain == "com.microsoft" && position is 0 or 1)
            {
                // Output 3 of the fused op is input + skip (+ bias): the residual stream after this layer.
                var sum = node.Output.Count > 3 && node.Output[3].Length > 0 ? node.Output[3] : null;
                return new ResidualSite(site.Layer, site, node.Name, sum);
            }
            else problem = $"feeds {Describe(node)}, not the residual Add";
        }
        throw new InvalidModelException(
            $"{source}: layer {site.Layer}: the MLP output '{site.ValueName}' {problem}; a control vector is added to the layer's " +
            "output, which equals adding it to the MLP output only when that feeds the residual sum directly");
    }

    private static string Describe(NodeProto node) => $"{(node.Domain is "" or "ai.onnx" ? "" : node.Domain + ".")}{node.OpType} '{node.Name}'";
}
