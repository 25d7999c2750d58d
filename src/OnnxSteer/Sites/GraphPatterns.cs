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
            var walkable = producer is not null && depth < 4 * MaxDepth && visited.Count < 64
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

    /// <summary>The attribute named <paramref name="name"/> of <paramref name="node"/>, or null.</summary>
    public static AttributeProto? Attribute(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);
}

/// <summary>What an elementwise expression is computed from: its non-constant leaf values, and whether it is nonlinear.</summary>
internal sealed record ElementwiseLeaves(IReadOnlyList<string> Values, bool Nonlinear)
{
    /// <summary>The only leaf when there is exactly one, else null.</summary>
    public string? Single => Values.Count == 1 ? Values[0] : null;
}
