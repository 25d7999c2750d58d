using Onnx;

namespace OnnxSteer.Sites;

/// <summary>
/// A linear projection y = x W found in a graph: a MatMul or Gemm whose weight is constant, or a com.microsoft
/// MatMulNBits. Widths come from the weight (MatMul B [K, N]; Gemm B [K, N] or [N, K] with transB; MatMulNBits
/// attributes K and N); 0 means the graph does not say.
/// </summary>
/// <param name="Node">The projection node.</param>
/// <param name="Order">Position of the node in the graph's node list (topological in valid ONNX).</param>
/// <param name="Activation">The non-constant input x.</param>
/// <param name="Weight">The weight input.</param>
/// <param name="InputWidth">K, the last dimension of x.</param>
/// <param name="OutputWidth">N, the last dimension of y.</param>
/// <param name="ElementType">Element type of x and y as the weight implies (TensorProto.DataType), or 0.</param>
internal sealed record Projection(NodeProto Node, int Order, string Activation, string Weight, int InputWidth, int OutputWidth, int ElementType)
{
    /// <summary>
    /// Why the projection's input cannot be a steering site although its output is an ordinary projection output
    /// (Gemm with transA=1), or null. Such a projection still counts as gate, up or fc1, and its output as mlp-out.
    /// </summary>
    public string? InputUnsupported { get; init; }

    /// <summary>The projection's output value (for int8 dynamic quantisation, the float output of the scale Mul).</summary>
    public string Output { get; init; } = Node.Output[0];

    /// <summary>The node that reads <see cref="Activation"/>: the projection, or the DynamicQuantizeLinear before a MatMulInteger.</summary>
    public NodeProto InputNode { get; init; } = Node;

    /// <summary>The node that writes <see cref="Output"/>: the projection, or the Mul that rescales a MatMulInteger's result.</summary>
    public NodeProto OutputNode { get; init; } = Node;

    /// <summary>Reads <paramref name="node"/> as a projection, or returns null when it is not one.</summary>
    public static Projection? TryRead(NodeProto node, int order, GraphPatterns graph)
    {
        var domain = node.Domain ?? "";
        if (node.Output.Count == 0 || node.Input.Count < 2) return null;
        var (x, w) = (node.Input[0], node.Input[1]);
        if (domain is "" or "ai.onnx" && node.OpType == "MatMul")
        {
            if (!graph.IsConstant(w) || graph.IsConstant(x)) return null;
            var dims = graph.ConstantShape(w);
            var (k, n) = dims is { Length: >= 2 } ? (dims[^2], dims[^1]) : (0L, 0L);
            return new Projection(node, order, x, w, (int)k, (int)n, graph.ConstantElementType(w));
        }
        if (domain is "" or "ai.onnx" && node.OpType == "Gemm")
        {
            if (!graph.IsConstant(w) || graph.IsConstant(x)) return null;
            var dims = graph.ConstantShape(w);
            var transB = (GraphPatterns.Attribute(node, "transB")?.I ?? 0) != 0;
            var (k, n) = dims is { Length: 2 } ? (transB ? (dims[1], dims[0]) : (dims[0], dims[1])) : (0L, 0L);
            // transA: Y = x^T B with x stored [K, M], so x's units lie on axis 0, not on the last axis that a site's
            // Mul (and the recorder's last-token read) assume. The output Y [M, N] is ordinary.
            var transA = (GraphPatterns.Attribute(node, "transA")?.I ?? 0) != 0;
            return new Projection(node, order, x, w, (int)k, (int)n, graph.ConstantElementType(w))
            {
                InputUnsupported = transA
                    ? "Gemm with transA=1 reads its input transposed ([K, tokens]): the units lie on axis 0, but steering and recording work on the last axis"
                    : null,
            };
        }
        if (domain is "" or "ai.onnx" && node.OpType == "MatMulInteger") return QuantizedDynamically(node, order, graph);
        if (domain == "com.microsoft" && node.OpType == "MatMulNBits" && node.Input.Count >= 3)
        {
            var k = GraphPatterns.Attribute(node, "K")?.I ?? 0;
            var n = GraphPatterns.Attribute(node, "N")?.I ?? 0;
            // A and the output have the scales' type (float or float16).
            return new Projection(node, order, x, w, (int)k, (int)n, graph.ConstantElementType(node.Input[2]));
        }
        return null;
    }

    /// <summary>
    /// onnxruntime's dynamic int8 quantisation of a MatMul with a constant weight (quantize_dynamic, what transformers.js
    /// ships as model_quantized / model_int8 / model_uint8): x → DynamicQuantizeLinear → (x_q, x_scale, x_zp);
    /// MatMulInteger(x_q, W_q, x_zp, W_zp) → Cast(float) → Mul(·, x_scale·W_scale) = y. The projection reads the float x
    /// and writes the float y; a steering Mul goes on x before the DynamicQuantizeLinear, which is refused when that
    /// quantised x also feeds other projections (it would steer them all).
    /// </summary>
    private static Projection? QuantizedDynamically(NodeProto node, int order, GraphPatterns graph)
    {
        var (xq, w) = (node.Input[0], node.Input[1]);
        if (graph.Index.Producer(xq) is not { OpType: "DynamicQuantizeLinear", Input.Count: > 0 } quantize || quantize.Output[0] != xq) return null;
        if (!graph.IsConstant(w)) return null;
        if (graph.Index.Consumers(node.Output[0]) is not [{ OpType: "Cast" } cast]) return null;
        if (graph.Index.Consumers(cast.Output[0]) is not [{ OpType: "Mul", Input.Count: 2 } rescale]) return null;
        var dims = graph.ConstantShape(w);
        var (k, n) = dims is { Length: 2 } ? (dims[0], dims[1]) : (0L, 0L);
        var x = quantize.Input[0];
        var readers = graph.Index.Consumers(xq).Count;
        return new Projection(node, order, x, w, (int)k, (int)n, graph.DeclaredElementType(x) is > 0 and var t ? t : (int)TensorProto.Types.DataType.Float)
        {
            Output = rescale.Output[0],
            InputNode = quantize,
            OutputNode = rescale,
            InputUnsupported = readers != 1
                ? $"its input is quantised by DynamicQuantizeLinear '{quantize.Name}' for {readers} MatMulInteger nodes; a Mul before it would steer them all"
                : quantize.Name.Length == 0 ? "its DynamicQuantizeLinear has no name to address it by" : null,
        };
    }
}
