using Onnx;
using OnnxSteer.Graph;

namespace OnnxSteer.Sites;

/// <summary>
/// What a graph holds, in a few words, for the message given when it has no steering site: how many projections of
/// each kind, which ops of a quantised or fused export were seen (they explain why no site matched), and what to try.
/// </summary>
internal static class GraphContents
{
    /// <summary>Ops whose presence explains a missing site, with what they are.</summary>
    private static readonly (string Op, string What)[] Telling =
    [
        ("MatMulInteger", "int8 dynamic quantisation"),
        ("DynamicQuantizeLinear", "int8 dynamic quantisation"),
        ("MatMulIntegerToFloat", "int8 dynamic quantisation, fused"),
        ("DynamicQuantizeMatMul", "int8 dynamic quantisation, fused"),
        ("QLinearMatMul", "int8 static quantisation"),
        ("MatMulBnb4", "bitsandbytes 4-bit weights"),
        ("QAttention", "int8 fused attention"),
        ("Attention", "fused attention (onnxruntime transformer optimizer)"),
        ("SkipLayerNormalization", "fused residual norm"),
        ("FastGelu", "fused GELU"),
        ("MoE", "fused mixture of experts"),
        ("QMoE", "fused quantised mixture of experts"),
        ("If", "control flow"),
        ("Loop", "control flow"),
    ];

    /// <summary>E.g. "412 nodes in 3 graphs; MatMul 96 (0 with a constant weight), MatMulInteger 96 (int8 dynamic quantisation)".</summary>
    public static string Describe(GraphProto graph)
    {
        var scopes = Subgraphs.Walk(graph).ToList();
        var nodes = scopes.SelectMany(s => s.Graph.Node).ToList();
        var counts = nodes.GroupBy(n => n.OpType).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var parts = new List<string> { $"{nodes.Count} nodes in {scopes.Count} graph(s)" };
        foreach (var op in new[] { "MatMul", "Gemm", "MatMulNBits" })
            if (counts.TryGetValue(op, out var c)) parts.Add($"{op} ×{c}");
        foreach (var (op, what) in Telling)
            if (counts.TryGetValue(op, out var c)) parts.Add($"{op} ×{c} ({what})");
        if (!counts.ContainsKey("MatMul") && !counts.ContainsKey("Gemm") && !counts.ContainsKey("MatMulNBits"))
            parts.Add("no MatMul, Gemm or MatMulNBits at all");
        return string.Join(", ", parts);
    }

    /// <summary>What to try for a graph whose ops say why it has no site, or null when they say nothing particular.</summary>
    public static string? Advice(GraphProto graph)
    {
        var ops = Subgraphs.Walk(graph).SelectMany(s => s.Graph.Node).Select(n => n.OpType).ToHashSet(StringComparer.Ordinal);
        if (ops.Contains("MatMulBnb4"))
            return "MatMulBnb4 (bitsandbytes NF4/FP4) is not steerable: its weights are quantised per block with a lookup table and no " +
                   "float activation is exposed between projections that onnxsteer understands; use another file of the same repository " +
                   "(model.onnx, model_fp16.onnx, model_q4.onnx or model_quantized.onnx)";
        if (ops.Contains("If") && graph.Node.Count <= 4)
            return "the decoder sits inside an If whose branches do not hold the same projections; use decoder_with_past_model.onnx " +
                   "or decoder_model.onnx of the same repository";
        if (ops.Contains("QLinearMatMul") || ops.Contains("MatMulIntegerToFloat") || ops.Contains("DynamicQuantizeMatMul"))
            return "this int8 layout is not steerable; use the float (model.onnx, model_fp16.onnx) or q4 export of the same repository";
        return null;
    }
}
