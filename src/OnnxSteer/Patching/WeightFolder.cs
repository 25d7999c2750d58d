using Google.Protobuf;
using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.Sites;

using TensorReader = System.Func<Onnx.TensorProto, byte[]>;

namespace OnnxSteer.Patching;

/// <summary>A successful fold: the edit record and the initializers whose data changed.</summary>
internal sealed record FoldResult(SiteEdit Edit, IReadOnlyList<string> Tensors);

/// <summary>
/// Folds a scale vector into weights, where that is exact up to one rounding per stored number:
/// <list type="bullet">
/// <item>attn, mlp (input units): MatMul B[K,N] row i ×= v_i; Gemm likewise on the K axis (B[:, i] when transB).</item>
/// <item>mlp-out (output units): MatMul B column j ×= v_j (and a following constant bias Add); Gemm B on the N axis
/// and bias C[j]; MatMulNBits: every block scale of output channel j and bias[j] ×= v_j. The dequantised weight is
/// (q − zp)·s, so this scales column j exactly; for a power-of-two v_j it is bitwise the Mul's result.</item>
/// <item>mlp (input units) of an int4 MatMulNBits down projection: one unit shares its block scale with its neighbours,
/// so the down projection cannot take it. But m = act(gate)·up is linear in up, so scaling the up projection's output
/// channel i (its block scales, as above) scales m_i exactly — done when up feeds only that Mul. When up is a
/// Split/Slice part of a fused gate_up projection (Phi-3), only the channels of up's last-axis range are scaled; refused
/// unless that range and every other part's range are constant and disjoint, so the gate half is never touched.</item>
/// </list>
/// Anything else (shared weights, float zero points, unusual layouts) is left to a Mul, with the reason.
/// </summary>
internal static class WeightFolder
{
    private const string MsDomain = "com.microsoft";

    private sealed class Context(GraphIndex index)
    {
        public GraphIndex Index { get; } = index;

        /// <summary>A weight read only by its projection (tied embeddings, shared layers cannot be scaled for one reader).
        /// A weight folded already for another site of the same projection (mlp and mlp-out of one down_proj) is scaled
        /// again: rows and columns scale independently, and unpatching undoes the folds newest first.</summary>
        public TensorProto? Exclusive(string name, out string why)
        {
            why = "";
            var init = Index.Initializer(name);
            if (init is null) { why = $"'{name}' is not a constant initializer"; return null; }
            if (Index.Consumers(name).Count != 1 || Index.IsGraphOutput(name) || Index.IsGraphInput(name))
            { why = $"weight '{name}' is shared or overridable"; return null; }
            return init;
        }
    }

    /// <summary>Folds <paramref name="steering"/> into the weights of its projection (in every branch alike, for a site
    /// inside If branches); null with <paramref name="reason"/> when it cannot be folded exactly, the graph then unchanged.</summary>
    public static FoldResult? TryFold(BranchEditors scopes, SiteSteering steering, TensorReader data, out string reason)
    {
        var site = steering.Site;
        if (!site.InBranches) return TryFold(scopes.Main, steering, data, out reason);
        // Each branch reads the same main-graph weights: plan the fold in a view of each branch, require the same
        // tensors from both, check nothing else in the model reads them, then write them once into the main graph.
        List<(TensorProto Original, TensorProto Folded)>? first = null;
        string? note = null;
        reason = "";
        foreach (var (editor, local, branch) in scopes.Places(site, why => new InvalidModelException(why)))
        {
            var view = new GraphIndex(BranchEditors.View(scopes.Main.Graph, editor.Graph));
            var changes = Plan(view, steering with { Site = local }, data, out reason, out note);
            if (changes is null) { reason = $"in {branch!.Attribute}: {reason}"; return null; }
            if (first is null) first = changes;
            else if (!changes.Select(c => c.Folded.Name).SequenceEqual(first.Select(c => c.Folded.Name)))
            { reason = $"the branches of If '{branch!.IfNode}' fold into different tensors"; return null; }
        }
        var ifName = site.Branches[0].IfNode;
        foreach (var (original, _) in first!)
        {
            var holders = scopes.Main.Index.SubgraphConsumers(original.Name);
            if (scopes.Main.Index.Initializer(original.Name) is null || scopes.Main.Index.Consumers(original.Name).Count > 0
                || holders.Count != 1 || holders[0].Name != ifName || scopes.Main.Index.IsGraphInput(original.Name))
            { reason = $"weight '{original.Name}' is not a main-graph weight read only by the branches of If '{ifName}'"; return null; }
        }
        foreach (var (_, folded) in first!) scopes.Main.SetInitializer(folded);
        return Result(site, steering, first!, note);
    }

    public static FoldResult? TryFold(GraphEditor editor, SiteSteering steering, TensorReader data, out string reason)
    {
        var changes = Plan(editor.Index, steering, data, out reason, out var note);
        if (changes is null) return null;
        // Only now that every tensor of this site folds are they replaced, so a refusal leaves the graph untouched.
        foreach (var (_, folded) in changes) editor.SetInitializer(folded);
        return Result(steering.Site, steering, changes, note);
    }

    private static FoldResult Result(SteeringSite site, SiteSteering steering, List<(TensorProto Original, TensorProto Folded)> changes, string? note) =>
        new(new SiteEdit
        {
            Site = site.Id, Kind = EditKind.Fold, Projection = site.ProjectionNode, Units = steering.Units.Count, Note = note,
            Gammas = new SortedDictionary<int, double>(steering.Units.ToDictionary(u => u.Index, u => u.Value)),
            OriginalTensors = changes.Select(c => Convert.ToBase64String(c.Original.ToByteArray())).ToList(),
        }, changes.Select(c => c.Folded.Name).ToList());

    /// <summary>The tensors a fold of <paramref name="steering"/> rewrites, before and after; null (with the reason) when it cannot.</summary>
    private static List<(TensorProto Original, TensorProto Folded)>? Plan(GraphIndex index, SiteSteering steering, TensorReader data,
        out string reason, out string? note)
    {
        var site = steering.Site;
        var ctx = new Context(index);
        var node = index.Node(site.ProjectionNode)!;
        note = null;
        var changes = site.Kind == SiteKind.MlpOut
            ? OutputChannels(ctx, node, site.Width, steering.Vector, site.BiasAddNode, data, out reason)
            : InputChannels(ctx, node, site.ValueName, site.Width, steering.Vector, data, out reason);
        if (changes is null && site.Kind == SiteKind.Mlp && IsNBits(node))
        {
            changes = UpProjection(ctx, site, steering.Vector, data, out var up, out var why);
            if (changes is null) reason += $"; the up projection cannot take it either ({why})";
            else note = $"folded into the output channels of up projection '{up}'";
        }
        if (changes is not null) reason = "";
        return changes;
    }

    /// <summary>Why an int8 dynamically quantised projection takes a Mul rather than a fold.</summary>
    private const string Int8Reason =
        "int8 dynamic quantisation (MatMulInteger): the weight is int8 with one scale for the whole matrix, so scaling one row " +
        "or column would need requantising it (not exact); the Mul goes on the float value instead";

    private static bool IsNBits(NodeProto node) => node.Domain == MsDomain && node.OpType == "MatMulNBits";

    private static bool IsFloatProjection(NodeProto node) => node.Domain is "" or "ai.onnx" && node.OpType is "MatMul" or "Gemm";

    /// <summary>Scales input unit i of a float MatMul/Gemm: the K axis of B.</summary>
    private static List<(TensorProto Original, TensorProto Folded)>? InputChannels(Context ctx, NodeProto node, string value, int width,
        float[] v, TensorReader data, out string reason)
    {
        if (IsNBits(node)) { reason = "int4 MatMulNBits: scaling one input channel would need requantising its block (not exact)"; return null; }
        if (node.OpType == "MatMulInteger") { reason = Int8Reason; return null; }
        if (!IsFloatProjection(node)) { reason = $"projection op {node.OpType} has no known weight layout"; return null; }
        if (node.Input[0] != value) { reason = "the steered value is not the projection's first input"; return null; }
        var gemm = node.OpType == "Gemm";
        if (gemm && Attr(node, "transA") != 0) { reason = "Gemm with transA"; return null; }
        return ScaleMatrix(ctx, node, width, v, data, outputAxis: false, out reason);
    }

    /// <summary>Scales output channel j of a projection: B's N axis, and every bias that adds into it.</summary>
    private static List<(TensorProto Original, TensorProto Folded)>? OutputChannels(Context ctx, NodeProto node, int width, float[] v,
        string? biasAddNode, TensorReader data, out string reason)
    {
        List<(TensorProto, TensorProto)>? changes;
        if (IsNBits(node)) changes = NBitsOutputChannels(ctx, node, width, v, data, out reason);
        else if (IsFloatProjection(node))
        {
            changes = ScaleMatrix(ctx, node, width, v, data, outputAxis: true, out reason);
            if (changes is not null && node.OpType == "Gemm" && node.Input.Count > 2 && node.Input[2].Length > 0
                && !ScaleBias(ctx, node.Input[2], width, v, data, changes, out reason)) return null;
        }
        else if (node.OpType == "MatMulInteger") { reason = Int8Reason; return null; }
        else { reason = $"projection op {node.OpType} has no known weight layout"; return null; }
        if (changes is null) return null;
        if (biasAddNode is { Length: > 0 })
        {
            // MatMul + Add(bias): the steered value is the Add's output, so the bias is scaled too.
            var add = ctx.Index.Node(biasAddNode);
            var biasName = add?.Input.FirstOrDefault(i => ctx.Index.Initializer(i) is not null);
            if (biasName is null) { reason = $"bias Add '{biasAddNode}' has no constant bias"; return null; }
            if (!ScaleBias(ctx, biasName, width, v, data, changes, out reason)) return null;
        }
        return changes;
    }

    /// <summary>MatMulNBits: scales (input 2, [N, blocks]) row j and bias (input 5) entry j; packed uint8 zero points only.</summary>
    private static List<(TensorProto, TensorProto)>? NBitsOutputChannels(Context ctx, NodeProto node, int width, float[] v,
        TensorReader data, out string reason)
    {
        var n = Attr(node, "N");
        if (n != width) { reason = $"MatMulNBits N={n} does not match width {width}"; return null; }
        if (node.Input.Count > 3 && node.Input[3].Length > 0
            && ctx.Index.Initializer(node.Input[3]) is not { DataType: (int)TensorProto.Types.DataType.Uint8 })
        { reason = "MatMulNBits zero points are not packed uint8"; return null; }
        var scales = ctx.Exclusive(node.Input[2], out reason);
        if (scales is null) return null;
        if (!ElementEncoding.IsSupported(scales.DataType) || Count(scales) % n != 0)
        { reason = $"MatMulNBits scales '{scales.Name}' are not a float [N, blocks] array"; return null; }
        var changes = new List<(TensorProto, TensorProto)> { (scales, ScaleRows(scales, data(scales), v, (int)(Count(scales) / n))) };
        if (node.Input.Count > 5 && node.Input[5].Length > 0 && !ScaleBias(ctx, node.Input[5], width, v, data, changes, out reason)) return null;
        return changes;
    }

    /// <summary>
    /// The 2-D float weight B of a MatMul/Gemm with the K axis (inputs) or N axis (outputs) scaled. B may be an
    /// initializer seen through a Transpose (torch dynamo writes every Linear as MatMul(x, Transpose(W))) and Casts (a
    /// weight stored in another float type): the stored initializer is scaled along the axis that becomes B's.
    /// </summary>
    private static List<(TensorProto, TensorProto)>? ScaleMatrix(Context ctx, NodeProto node, int width, float[] v, TensorReader data,
        bool outputAxis, out string reason)
    {
        var (weight, swapped) = StoredWeight(ctx, node.Input[1], out reason);
        if (weight is null) return null;
        if (weight.Dims.Count != 2 || !ElementEncoding.IsSupported(weight.DataType))
        { reason = $"weight '{weight.Name}' is not a 2-D float matrix"; return null; }
        var transB = node.OpType == "Gemm" && Attr(node, "transB") != 0;
        // Axis of B that carries the units: K (rows of B[K,N]) for inputs, N for outputs; transB and a Transpose swap them.
        var axis = (outputAxis ? 1 : 0) ^ (transB ? 1 : 0) ^ (swapped ? 1 : 0);
        if (weight.Dims[axis] != width)
        { reason = $"weight '{weight.Name}' dims [{string.Join(",", weight.Dims)}] do not match width {width}"; return null; }
        return [(weight, ScaleAxis(weight, data(weight), v, axis))];
    }

    /// <summary>
    /// The initializer behind <paramref name="value"/>, through at most a few Transpose (2-D, axes swapped) and
    /// float-to-float Cast nodes, each read only by the next; and whether its axes are swapped. Null with the reason else.
    /// </summary>
    private static (TensorProto? Weight, bool Swapped) StoredWeight(Context ctx, string value, out string reason)
    {
        var swapped = false;
        for (var depth = 0; depth < 4; depth++)
        {
            if (ctx.Index.Initializer(value) is not null) return (ctx.Exclusive(value, out reason), swapped);
            var producer = ctx.Index.Producer(value);
            if (producer is null) { reason = $"'{value}' is not a constant initializer"; return (null, false); }
            if (ctx.Index.Consumers(value).Count != 1 || ctx.Index.IsGraphOutput(value))
            { reason = $"weight '{value}' is shared"; return (null, false); }
            switch (producer.OpType)
            {
                case "Transpose" when producer.Attribute.FirstOrDefault(a => a.Name == "perm")?.Ints is null or [1, 0]:
                    swapped = !swapped;
                    break;
                case "Cast" when ElementEncoding.IsSupported((int)Attr(producer, "to")):
                    break;
                default:
                    reason = $"weight '{value}' comes from {producer.OpType} '{producer.Name}', not from an initializer (through Transpose or Cast)";
                    return (null, false);
            }
            value = producer.Input[0];
        }
        reason = $"weight '{value}' lies too many ops behind the projection";
        return (null, false);
    }

    private static bool ScaleBias(Context ctx, string name, int width, float[] v, TensorReader data,
        List<(TensorProto, TensorProto)> changes, out string reason)
    {
        var bias = ctx.Exclusive(name, out reason);
        if (bias is null) return false;
        if (Count(bias) != width || bias.Dims.Count == 0 || bias.Dims[^1] != width || !ElementEncoding.IsSupported(bias.DataType))
        { reason = $"bias '{bias.Name}' is not a per-output vector"; return false; }
        changes.Add((bias, ScaleAxis(bias, data(bias), v, bias.Dims.Count - 1)));
        return true;
    }

    /// <summary>
    /// For m = act(gate)·up feeding the down projection: finds the up projection (the Mul's input produced directly by a
    /// projection read by nothing else) and scales its output channels.
    /// </summary>
    private static List<(TensorProto, TensorProto)>? UpProjection(Context ctx, SteeringSite site, float[] v, TensorReader data,
        out string? upName, out string reason)
    {
        upName = null;
        var mul = ctx.Index.Producer(site.ValueName);
        if (mul is not { OpType: "Mul" } || mul.Domain is not ("" or "ai.onnx") || mul.Input.Count != 2)
        { reason = "the mlp value is not a gate·up product"; return null; }
        if (ctx.Index.Consumers(site.ValueName).Count != 1 || ctx.Index.IsGraphOutput(site.ValueName))
        { reason = "the mlp value has other readers"; return null; }
        var candidates = mul.Input
            .Select(i => (Value: i, Node: ctx.Index.Producer(i)))
            .Where(c => c.Node is not null && (IsNBits(c.Node) || IsFloatProjection(c.Node)) && c.Node.Output.Count == 1
                        && ctx.Index.Consumers(c.Value).Count == 1 && !ctx.Index.IsGraphOutput(c.Value))
            .ToList();
        if (candidates.Count == 0) return FusedUpPart(ctx, mul, site, v, data, out upName, out reason);
        if (candidates.Count != 1) { reason = "no single up projection feeds the gate·up product"; return null; }
        upName = candidates[0].Node!.Name;
        return OutputChannels(ctx, candidates[0].Node!, site.Width, v, null, data, out reason);
    }

    /// <summary>
    /// m = act(gate)·up where up is a Split/Slice part of one fused gate_up projection (Phi-3): scales the projection's
    /// output channels inside the up part's range [start, start + width) and leaves every other channel at factor 1.
    /// Refused unless the up part is read only by the Mul, the fused output only by Split/Slice nodes, and every other
    /// part's range is known and disjoint from up's, so the gate can never be scaled.
    /// </summary>
    private static List<(TensorProto, TensorProto)>? FusedUpPart(Context ctx, NodeProto mul, SteeringSite site, float[] v,
        TensorReader data, out string? upName, out string reason)
    {
        upName = null;
        var patterns = new GraphPatterns(ctx.Index);
        var parts = mul.Input
            .Select(patterns.PartOf)
            .Where(p => p is not null && ctx.Index.Producer(p.Source) is { } n && (IsNBits(n) || IsFloatProjection(n))
                        && ctx.Index.Consumers(p.Value).Count == 1 && !ctx.Index.IsGraphOutput(p.Value))
            .ToList();
        if (parts.Count != 1) { reason = "no single up projection feeds the gate·up product"; return null; }
        var up = parts[0]!;
        var fused = ctx.Index.Producer(up.Source)!;
        var total = OutputWidth(ctx, fused);
        if (total <= 0) { reason = $"fused gate_up projection '{fused.Name}' has no known output width"; return null; }
        var readers = ctx.Index.Consumers(up.Source);
        if (ctx.Index.IsGraphOutput(up.Source) || ctx.Index.SubgraphConsumers(up.Source).Count > 0
            || readers.Any(r => r.OpType is not ("Slice" or "Split") || r.Input[0] != up.Source))
        { reason = $"fused gate_up output '{up.Source}' has readers other than its Split/Slice"; return null; }
        if (patterns.LastAxisRange(up, total) is not { } range || range.Length != site.Width)
        { reason = $"the up part of fused gate_up '{fused.Name}' is not a constant last-axis range of width {site.Width}"; return null; }
        foreach (var reader in readers)
            foreach (var output in reader.Output.Where(o => o.Length > 0 && o != up.Value))
            {
                var other = patterns.LastAxisRange(new ValuePart(output, reader, up.Source, reader.Output.IndexOf(output)), total);
                if (other is not { } r || (r.Length > 0 && r.Start < range.Start + range.Length && range.Start < r.Start + r.Length))
                { reason = $"another part of fused gate_up '{fused.Name}' ('{output}') may overlap the up part"; return null; }
            }
        var full = new float[total];
        Array.Fill(full, 1f);
        Array.Copy(v, 0, full, range.Start, range.Length);
        upName = $"{fused.Name}[{range.Start}..{range.Start + range.Length})";
        return OutputChannels(ctx, fused, (int)total, full, null, data, out reason);
    }

    /// <summary>N of a projection: MatMulNBits attribute N, else the weight's output axis; 0 when unknown.</summary>
    private static long OutputWidth(Context ctx, NodeProto node)
    {
        if (IsNBits(node)) return Attr(node, "N");
        if (ctx.Index.Initializer(node.Input[1]) is not { Dims.Count: 2 } w) return 0;
        return node.OpType == "Gemm" && Attr(node, "transB") != 0 ? w.Dims[0] : w.Dims[1];
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
