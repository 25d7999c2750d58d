using Onnx;
using OnnxSteer.Graph;

namespace OnnxSteer.Sites;

/// <summary>
/// The small structural questions site detection asks of a graph: is a value a constant (weight), what is its shape
/// and element type, what lies behind a chain of shape-only ops, and which values an elementwise expression depends on.
/// </summary>
internal sealed class GraphPatterns(GraphIndex index)
{
    /// <summary>How far back chains are followed; real exports need 1-3 steps, the limit only guards against odd graphs.</summary>
    private const int MaxDepth = 8;

    /// <summary>Ops that move or reinterpret data without changing values; only their first input is data.</summary>
    private static readonly HashSet<string> ShapeOnlyOps =
        ["Reshape", "Flatten", "Transpose", "Cast", "Identity", "Squeeze", "Unsqueeze", "Dropout"];

    /// <summary>Nonlinearities that mark an expression as an activation function (SiLU = x*Sigmoid(x), GELU via Erf or Tanh, ...).</summary>
    private static readonly HashSet<string> NonlinearOps =
        ["Sigmoid", "Tanh", "Erf", "Relu", "LeakyRelu", "PRelu", "Gelu", "FastGelu", "BiasGelu", "QuickGelu", "Silu", "Swish",
         "Elu", "Selu", "Celu", "Softplus", "Mish", "HardSigmoid", "HardSwish"];

    /// <summary>Elementwise ops that may make up an activation function or a gate (decomposed or fused).</summary>
    private static readonly HashSet<string> ElementwiseOps =
        ["Mul", "Add", "Sub", "Div", "Pow", "Sqrt", "Neg", "Abs", "Exp", .. NonlinearOps];

    public GraphIndex Index { get; } = index;

    /// <summary>Values known to be projection outputs: <see cref="Leaves"/> stops there.</summary>
    public HashSet<string> ProjectionOutputs { get; } = new(StringComparer.Ordinal);

    /// <summary>True when <paramref name="value"/> is an initializer or Constant, possibly dequantised, cast or transposed.</summary>
    public bool IsConstant(string value, int depth = 0)
    {
        if (string.IsNullOrEmpty(value)) return false;
        if (Index.Initializer(value) is not null) return true;
        var producer = Index.Producer(value);
        if (producer is null || depth > MaxDepth) return false;
        if (producer.OpType == "Constant") return true;
        return producer.OpType is "DequantizeLinear" or "Cast" or "Transpose" or "Reshape" or "Identity" or "Unsqueeze" or "Squeeze" or "Flatten"
               && IsConstant(producer.Input[0], depth + 1);
    }

    /// <summary>The dimensions of a constant value (following dequantise/cast/transpose), else its declared static shape, else null.</summary>
    public long[]? ConstantShape(string value, int depth = 0)
    {
        if (Index.Initializer(value) is { } init) return [.. init.Dims];
        var producer = Index.Producer(value);
        if (producer is not null && depth <= MaxDepth)
        {
            switch (producer.OpType)
            {
                case "Constant":
                    if (Attribute(producer, "value")?.T is { } t) return [.. t.Dims];
                    break;
                case "DequantizeLinear" or "Cast" or "Identity":
                    return ConstantShape(producer.Input[0], depth + 1);
                case "Transpose":
                    if (ConstantShape(producer.Input[0], depth + 1) is { } dims)
                    {
                        var perm = Attribute(producer, "perm")?.Ints.ToArray() ?? Enumerable.Range(0, dims.Length).Reverse().Select(i => (long)i).ToArray();
                        if (perm.Length == dims.Length) return perm.Select(p => dims[p]).ToArray();
                    }
                    break;
            }
        }
        var declared = DeclaredShape(value);
        return declared is not null && declared.All(d => d > 0) ? declared : null;
    }

    /// <summary>The element type a constant value has after dequantisation or casting (TensorProto.DataType), or 0 when unknown.</summary>
    public int ConstantElementType(string value, int depth = 0)
    {
        if (Index.Initializer(value) is { } init) return init.DataType;
        var producer = Index.Producer(value);
        if (producer is not null && depth <= MaxDepth)
        {
            switch (producer.OpType)
            {
                case "Constant":
                    if (Attribute(producer, "value")?.T is { } t) return t.DataType;
                    break;
                case "DequantizeLinear":
                    // The output type of DequantizeLinear is the scale's type (or output_dtype in opset 23+).
                    if (Attribute(producer, "output_dtype") is { I: > 0 } od) return (int)od.I;
                    return ConstantElementType(producer.Input[1], depth + 1);
                case "Cast":
                    return (int)(Attribute(producer, "to")?.I ?? 0);
                case "Transpose" or "Identity" or "Reshape" or "Unsqueeze" or "Squeeze" or "Flatten":
                    return ConstantElementType(producer.Input[0], depth + 1);
            }
        }
        return DeclaredElementType(value);
    }

    /// <summary>The element type declared for a value in inputs, outputs or value_info, or 0.</summary>
    public int DeclaredElementType(string value) =>
        Index.ValueInfo(value)?.Type?.TensorType is { HasElemType: true } tt ? tt.ElemType
        : Index.Initializer(value)?.DataType ?? 0;

    /// <summary>The declared shape of a value (-1 for symbolic or unknown dimensions), or null when not declared.</summary>
    public long[]? DeclaredShape(string value)
    {
        var shape = Index.ValueInfo(value)?.Type?.TensorType?.Shape;
        if (shape is null) return null;
        return shape.Dim.Select(d => d.HasDimValue ? d.DimValue : -1L).ToArray();
    }

    /// <summary>Follows <paramref name="value"/> back through shape-only ops (Reshape, Transpose, Flatten, Cast, ...).</summary>
    public string SkipShapeOps(string value)
    {
        for (var depth = 0; depth < MaxDepth; depth++)
        {
            var producer = Index.Producer(value);
            if (producer is null || !ShapeOnlyOps.Contains(producer.OpType) || producer.Input.Count == 0) return value;
            value = producer.Input[0];
        }
        return value;
    }

    /// <summary>
    /// The non-constant values an elementwise expression ending at <paramref name="value"/> is computed from, and whether
    /// it applies a nonlinearity. x*Sigmoid(x) has the single leaf x and is nonlinear; act(g)*u has leaves g and u.
    /// </summary>
    public ElementwiseLeaves Leaves(string value)
    {
        var leaves = new List<string>();
        var nonlinear = false;
        var visited = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<(string Value, int Depth)>();
        stack.Push((value, 0));
        while (stack.Count > 0)
        {
            var (current, depth) = stack.Pop();
            if (!visited.Add(current) || IsConstant(current)) continue;
            var producer = Index.Producer(current);
            var walkable = producer is not null && !ProjectionOutputs.Contains(current) && depth < 4 * MaxDepth && visited.Count < 64
                           && (ElementwiseOps.Contains(producer.OpType) || ShapeOnlyOps.Contains(producer.OpType));
            if (!walkable)
            {
                if (!leaves.Contains(current)) leaves.Add(current);
                continue;
            }
            if (NonlinearOps.Contains(producer!.OpType)) nonlinear = true;
            // Shape-only ops carry data in their first input; the rest (target shapes, axes) are not part of the value.
            var dataInputs = ShapeOnlyOps.Contains(producer.OpType) ? producer.Input.Take(1) : producer.Input;
            foreach (var input in dataInputs)
                if (input.Length > 0) stack.Push((input, depth + 1));
        }
        return new ElementwiseLeaves(leaves, nonlinear);
    }

    /// <summary>
    /// When <paramref name="value"/> is one output of a Slice or Split (a part of a wider value, e.g. the gate or up half
    /// of a fused gate_up projection), that part; else null.
    /// </summary>
    public ValuePart? PartOf(string value)
    {
        var producer = Index.Producer(value);
        if (producer is not { OpType: "Slice" or "Split" } || producer.Domain is not ("" or "ai.onnx") || producer.Input.Count == 0) return null;
        return new ValuePart(value, producer, producer.Input[0], producer.Output.IndexOf(value));
    }

    /// <summary>
    /// Whether <paramref name="part"/> cuts along the last axis of its source: true, false, or null when the graph does
    /// not say (axis not constant, rank unknown).
    /// </summary>
    public bool? CutsLastAxis(ValuePart part)
    {
        var axis = PartAxis(part.Splitter);
        if (axis is null) return null;
        if (axis == -1) return true;
        var rank = RankOf(part.Source);
        // Axis 0 is never the unit axis of a projection's output (rank >= 2); other axes need the rank to judge.
        if (rank is null) return axis == 0 ? false : null;
        return axis == rank - 1 || axis + rank == rank - 1;
    }

    /// <summary>
    /// The range [Start, Start + Length) of the last axis that <paramref name="part"/> takes from a source whose last
    /// dimension is <paramref name="sourceWidth"/>; null unless the cut is on the last axis with constant bounds and step 1.
    /// </summary>
    public (long Start, long Length)? LastAxisRange(ValuePart part, long sourceWidth)
    {
        if (CutsLastAxis(part) != true || sourceWidth <= 0) return null;
        var node = part.Splitter;
        if (node.OpType == "Slice")
        {
            long[]? starts, ends, steps = null;
            if (Attribute(node, "starts") is { } sa)
            {
                // Opset 1-9: bounds are attributes.
                starts = [.. sa.Ints];
                ends = Attribute(node, "ends")?.Ints.ToArray();
            }
            else
            {
                starts = node.Input.Count > 1 ? ConstantInt64s(node.Input[1]) : null;
                ends = node.Input.Count > 2 ? ConstantInt64s(node.Input[2]) : null;
                if (node.Input.Count > 4 && node.Input[4].Length > 0) steps = ConstantInt64s(node.Input[4]);
            }
            if (starts is not [var s] || ends is not [var e] || steps is not (null or [1])) return null;
            s = s < 0 ? Math.Max(0, s + sourceWidth) : Math.Min(s, sourceWidth);
            e = e < 0 ? Math.Max(0, e + sourceWidth) : Math.Min(e, sourceWidth);
            return (s, Math.Max(0, e - s));
        }
        // Split: explicit sizes (input 1 from opset 13, attribute before), else equal parts (the last one smaller, opset 18).
        var count = node.Output.Count;
        var sizes = node.Input.Count > 1 && node.Input[1].Length > 0 ? ConstantInt64s(node.Input[1])
            : Attribute(node, "split") is { } splitAttr ? [.. splitAttr.Ints] : null;
        if (sizes is null)
        {
            if (count == 0) return null;
            var chunk = (sourceWidth + count - 1) / count;
            sizes = Enumerable.Range(0, count).Select(i => Math.Max(0, Math.Min(chunk, sourceWidth - i * chunk))).ToArray();
        }
        if (sizes.Length != count || sizes.Sum() != sourceWidth || part.Index < 0 || part.Index >= count) return null;
        return (sizes.Take(part.Index).Sum(), sizes[part.Index]);
    }

    /// <summary>The axis a Slice or Split cuts, when it is a single constant axis; else null.</summary>
    private long? PartAxis(NodeProto node)
    {
        if (node.OpType == "Split") return Attribute(node, "axis")?.I ?? 0;
        long[]? axes = Attribute(node, "axes") is { } a ? [.. a.Ints]
            : node.Input.Count > 3 && node.Input[3].Length > 0 ? ConstantInt64s(node.Input[3])
            : null;
        // Without axes, Slice cuts axes 0..len(starts)-1: the last axis only for 1-D data, which a projection never gives.
        return axes is [var axis] ? axis : null;
    }

    /// <summary>Ops whose output has the rank of their first input (norms, casts, unary activations, softmax).</summary>
    private static readonly HashSet<string> RankKeepingOps =
        ["LayerNormalization", "SimplifiedLayerNormalization", "SkipLayerNormalization", "SkipSimplifiedLayerNormalization",
         "RMSNormalization", "Cast", "Identity", "Softmax", "Dropout", .. NonlinearOps];

    private readonly Dictionary<string, int?> _ranks = new(StringComparer.Ordinal);

    /// <summary>
    /// The rank of a value: declared, else followed back through projections with a 2-D weight (MatMul keeps the rank),
    /// norms, activations and broadcasting elementwise ops (the largest known rank) to a value that declares it; null
    /// when nothing says. Residual chains are long, so the walk is memoised and allowed deep.
    /// </summary>
    public int? RankOf(string value, int depth = 0)
    {
        if (_ranks.TryGetValue(value, out var known)) return known;
        // Marked unknown while its producers are walked: a cycle (only a malformed graph has one) ends there instead of
        // being walked again down every branch of every Add, and each value is visited once.
        _ranks[value] = null;
        int? rank = null;
        if (DeclaredShape(value) is { } dims) rank = dims.Length;
        else if (Index.Initializer(value) is { } init) rank = init.Dims.Count;
        else if (Index.Producer(value) is { Input.Count: > 0 } producer && depth < 1024)
        {
            rank = producer.OpType switch
            {
                "Gemm" => 2,
                "MatMulNBits" => RankOf(producer.Input[0], depth + 1),
                "MatMul" when producer.Input.Count == 2 && ConstantShape(producer.Input[1]) is { Length: 2 } => RankOf(producer.Input[0], depth + 1),
                "Add" or "Mul" or "Sub" or "Div" => producer.Input.Where(i => i.Length > 0).Select(i => RankOf(i, depth + 1)).Max(),
                var op when RankKeepingOps.Contains(op) => RankOf(producer.Input[0], depth + 1),
                _ => null,
            };
        }
        _ranks[value] = rank;
        return rank;
    }

    /// <summary>A small constant integer tensor (initializer or Constant node, int64 or int32, inline data), or null.</summary>
    public long[]? ConstantInt64s(string value)
    {
        var tensor = Index.Initializer(value)
                     ?? (Index.Producer(value) is { OpType: "Constant" } c ? Attribute(c, "value")?.T : null);
        if (tensor is null || tensor.DataLocation == TensorProto.Types.DataLocation.External) return null;
        var raw = tensor.RawData.Span;
        return tensor.DataType switch
        {
            (int)TensorProto.Types.DataType.Int64 when raw.Length > 0 =>
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(raw).ToArray(),
            (int)TensorProto.Types.DataType.Int64 => [.. tensor.Int64Data],
            (int)TensorProto.Types.DataType.Int32 when raw.Length > 0 =>
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(raw).ToArray().Select(i => (long)i).ToArray(),
            (int)TensorProto.Types.DataType.Int32 => tensor.Int32Data.Select(i => (long)i).ToArray(),
            _ => null,
        };
    }

    /// <summary>The attribute named <paramref name="name"/> of <paramref name="node"/>, or null.</summary>
    public static AttributeProto? Attribute(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);
}

/// <summary>What an elementwise expression is computed from: its non-constant leaf values, and whether it is nonlinear.</summary>
internal sealed record ElementwiseLeaves(IReadOnlyList<string> Values, bool Nonlinear)
{
    /// <summary>The only leaf when there is exactly one, else null.</summary>
    public string? Single => Values.Count == 1 ? Values[0] : null;
}

/// <summary>One output of a Slice or Split: a part of <paramref name="Source"/>.</summary>
/// <param name="Value">The part.</param>
/// <param name="Splitter">The Slice or Split node.</param>
/// <param name="Source">The value it cuts.</param>
/// <param name="Index">Which output of the splitter the part is (0 for a Slice).</param>
internal sealed record ValuePart(string Value, NodeProto Splitter, string Source, int Index);
