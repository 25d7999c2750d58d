using Google.Protobuf;
using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.Sites;

namespace OnnxSteer.Patching;

/// <summary>A successful fold: the edit record and the initializers whose data changed.</summary>
internal sealed record FoldResult(SiteEdit Edit, IReadOnlyList<string> Tensors);

/// <summary>
/// Folds a scale vector into a projection's weights, where that is exact up to one rounding per weight:
/// <list type="bullet">
/// <item>attn, mlp (input units): MatMul B[K,N] row i ×= v_i; Gemm likewise on the K axis (B[:, i] when transB).</item>
/// <item>mlp-out (output units): MatMul B column j ×= v_j; Gemm B on the N axis and bias C[j] ×= v_j;
/// MatMulNBits: every block scale of output channel j and bias[j] ×= v_j (dequantised weight = (q − zp)·s, so this
/// scales column j exactly; for a power-of-two v_j it is bitwise the same as the Mul).</item>
/// </list>
/// An int4 MatMulNBits cannot take an input-unit fold: one unit shares its block scale with its neighbours, so it
/// would need requantising. Such sites, shared weights and unusual layouts are left to a Mul, with the reason.
/// </summary>
internal static class WeightFolder
{
    private const string MsDomain = "com.microsoft";

    public static FoldResult? TryFold(GraphProto graph, SiteSteering steering, InitializerData data, ISet<string> foldedSoFar, out string reason)
    {
        var site = steering.Site;
        var node = GraphPatcher.FindNode(graph, site.ProjectionNode)!;
        var index = new GraphIndex(graph);
        var output = site.Kind == SiteKind.MlpOut;
        var originals = new List<TensorProto>();
        var changed = new List<(TensorProto Original, TensorProto Folded)>();

        // A weight read by another node (tied embeddings, shared layers) cannot be scaled for one reader only.
        TensorProto? Exclusive(string name, out string why)
        {
            why = "";
            var init = index.Initializer(name);
            if (init is null) { why = $"'{name}' is not a constant initializer"; return null; }
            if (index.Consumers(name).Count != 1 || index.IsGraphOutput(name) || graph.Input.Any(i => i.Name == name))
            { why = $"weight '{name}' is shared or overridable"; return null; }
            if (foldedSoFar.Contains(name)) { why = $"weight '{name}' was already folded for another site"; return null; }
            return init;
        }

        switch ((node.Domain is "" or "ai.onnx" ? "" : node.Domain, node.OpType))
        {
            case ("", "MatMul") or ("", "Gemm"):
            {
                var gemm = node.OpType == "Gemm";
                if (node.Input[0] != site.ValueName && !output) { reason = "the steered value is not the projection's first input"; return null; }
                if (gemm && !output && Attr(node, "transA") != 0) { reason = "Gemm with transA"; return null; }
                var weight = Exclusive(node.Input[1], out var why);
                if (weight is null) { reason = why; return null; }
                if (weight.Dims.Count != 2 || !ElementEncoding.IsSupported(weight.DataType))
                { reason = $"weight '{weight.Name}' is not a 2-D float matrix"; return null; }
                var transB = gemm && Attr(node, "transB") != 0;
                // Axis of B that carries the steered units: K (rows of B[K,N]) for inputs, N for outputs; transB swaps.
                var axis = (output ? 1 : 0) ^ (transB ? 1 : 0);
                if (weight.Dims[axis] != site.Width)
                { reason = $"weight '{weight.Name}' dims [{string.Join(",", weight.Dims)}] do not match width {site.Width}"; return null; }
                changed.Add((weight, ScaleAxis(weight, data.ReadRaw(weight), steering.Vector, axis)));
                if (gemm && output && node.Input.Count > 2 && node.Input[2].Length > 0)
                {
                    var bias = Exclusive(node.Input[2], out why);
                    if (bias is null) { reason = why; return null; }
                    if (Count(bias) != site.Width || !ElementEncoding.IsSupported(bias.DataType))
                    { reason = $"Gemm bias '{bias.Name}' is not a per-output vector"; return null; }
                    changed.Add((bias, ScaleAxis(bias, data.ReadRaw(bias), steering.Vector, bias.Dims.Count - 1)));
                }
                if (output && site.BiasAddNode is { Length: > 0 } addName)
                {
                    // MatMul + Add(bias): the steered value is the Add's output, so the bias is scaled too.
                    var add = GraphPatcher.FindNode(graph, addName);
                    var biasName = add?.Input.FirstOrDefault(i => index.Initializer(i) is not null);
                    if (add is null || biasName is null) { reason = $"bias Add '{addName}' has no constant bias"; return null; }
                    var bias = Exclusive(biasName, out why);
                    if (bias is null) { reason = why; return null; }
                    if (Count(bias) != site.Width || bias.Dims.Count == 0 || bias.Dims[^1] != site.Width || !ElementEncoding.IsSupported(bias.DataType))
                    { reason = $"bias '{bias.Name}' is not a per-output vector"; return null; }
                    changed.Add((bias, ScaleAxis(bias, data.ReadRaw(bias), steering.Vector, bias.Dims.Count - 1)));
                }
                break;
            }
            case (MsDomain, "MatMulNBits"):
            {
                if (!output) { reason = "int4 MatMulNBits: scaling one input channel would need requantising its block (not exact)"; return null; }
                var n = Attr(node, "N");
                if (n != site.Width) { reason = $"MatMulNBits N={n} does not match width {site.Width}"; return null; }
                if (node.Input.Count > 3 && node.Input[3].Length > 0)
                {
                    var zp = index.Initializer(node.Input[3]);
                    if (zp is null || zp.DataType != (int)TensorProto.Types.DataType.Uint8)
                    { reason = "MatMulNBits zero points are not packed uint8"; return null; }
                }
                var scales = Exclusive(node.Input[2], out var why);
                if (scales is null) { reason = why; return null; }
                if (!ElementEncoding.IsSupported(scales.DataType) || Count(scales) % n != 0)
                { reason = $"MatMulNBits scales '{scales.Name}' are not a float [N, blocks] array"; return null; }
                changed.Add((scales, ScaleRows(scales, data.ReadRaw(scales), steering.Vector, (int)(Count(scales) / n))));
                if (node.Input.Count > 5 && node.Input[5].Length > 0)
                {
                    var bias = Exclusive(node.Input[5], out why);
                    if (bias is null) { reason = why; return null; }
                    if (Count(bias) != n || !ElementEncoding.IsSupported(bias.DataType)) { reason = "MatMulNBits bias is not [N]"; return null; }
                    changed.Add((bias, ScaleRows(bias, data.ReadRaw(bias), steering.Vector, 1)));
                }
                break;
            }
            default:
                reason = $"projection op {node.OpType} has no known weight layout";
                return null;
        }

        // Only now that every tensor of this site folds are they replaced, so a refusal leaves the graph untouched.
        foreach (var (original, folded) in changed)
        {
            var position = graph.Initializer.IndexOf(original);
            graph.Initializer[position] = folded;
            originals.Add(original);
        }
        reason = "";
        return new FoldResult(new SiteEdit
        {
            Site = site.Id, Kind = EditKind.Fold, Projection = site.ProjectionNode, Units = steering.Units.Count,
            OriginalTensors = originals.Select(t => Convert.ToBase64String(t.ToByteArray())).ToList(),
        }, changed.Select(c => c.Folded.Name).ToList());
    }

    private static long Attr(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.I ?? 0;

    private static long Count(TensorProto t) => t.Dims.Aggregate(1L, (a, d) => a * d);

    /// <summary>A copy of <paramref name="tensor"/> with embedded data, element [.., i on axis, ..] multiplied by v_i.</summary>
    private static TensorProto ScaleAxis(TensorProto tensor, byte[] raw, float[] v, int axis)
    {
        var values = ElementEncoding.Decode(raw, tensor.DataType);
        var inner = 1L;
        for (var d = axis + 1; d < tensor.Dims.Count; d++) inner *= tensor.Dims[d];
        var width = tensor.Dims[axis];
        for (long i = 0; i < values.Length; i++) values[i] *= v[(i / inner) % width];
        return WithData(tensor, ElementEncoding.Encode(values, tensor.DataType));
    }

    /// <summary>Row j of a flat [N, per] array multiplied by v_j.</summary>
    private static TensorProto ScaleRows(TensorProto tensor, byte[] raw, float[] v, int per)
    {
        var values = ElementEncoding.Decode(raw, tensor.DataType);
        for (var i = 0; i < values.Length; i++) values[i] *= v[i / per];
        return WithData(tensor, ElementEncoding.Encode(values, tensor.DataType));
    }

    private static TensorProto WithData(TensorProto original, byte[] raw)
    {
        var folded = new TensorProto { Name = original.Name, DataType = original.DataType, RawData = ByteString.CopyFrom(raw) };
        folded.Dims.AddRange(original.Dims);
        return folded;
    }
}
