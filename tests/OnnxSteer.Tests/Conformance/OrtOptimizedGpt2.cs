using Google.Protobuf;
using Onnx;
using OnnxSteer.Patching;
using OnnxSteer.Tests.Sites;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// A GPT-2 as onnxruntime's transformer optimizer leaves it (onnxruntime/python/tools/transformers: fusion_attention.py,
/// fusion_skiplayernorm.py, fusion_fastgelu.py; what <c>optimum-cli export onnx --optimize O2</c> writes): the first
/// LayerNormalization stays; attention is one com.microsoft <c>Attention</c> (packed qkv weight [H, 3H] and bias,
/// unidirectional) followed by the c_proj MatMul; each residual add, the projection's bias and the next norm are one
/// com.microsoft <c>SkipLayerNormalization</c> (inputs: input, skip, gamma, beta, bias; output 3 the residual sum);
/// GELU with c_fc's bias is com.microsoft <c>FastGelu</c>. Token ids in (a Gather of wte), final normed hidden state out.
/// </summary>
internal static class OrtOptimizedGpt2
{
    public const int Hidden = 16, Heads = 2, Vocab = 64;

    public static ModelProto Build(int layers, int seed = 7)
    {
        var g = new TestGraph();
        var ids = g.Input("input_ids", TestGraph.Int64);
        var x = g.Node("Gather", "/transformer/wte/Gather", [g.Weight("wte.weight", TestGraph.Float, Vocab, Hidden), ids]);
        var ln = g.Node("LayerNormalization", "/transformer/h.0/ln_1/LayerNormalization",
            [x, g.Weight("h.0.ln_1.weight", TestGraph.Float, Hidden), g.Weight("h.0.ln_1.bias", TestGraph.Float, Hidden)], attributes: TestGraph.Int("axis", -1));
        var residual = x;
        const string Ms = "com.microsoft";
        for (var l = 0; l < layers; l++)
        {
            var p = $"/transformer/h.{l}";
            var attn = g.Node("Attention", $"{p}/attn/Attention", [ln, g.Weight($"h.{l}.attn.c_attn.weight", TestGraph.Float, Hidden, 3 * Hidden),
                g.Weight($"h.{l}.attn.c_attn.bias", TestGraph.Float, 3 * Hidden)], Ms, attributes: [TestGraph.Int("num_heads", Heads), TestGraph.Int("unidirectional", 1)]);
            var o = g.Node("MatMul", $"{p}/attn/c_proj/MatMul", [attn, g.Weight($"h.{l}.attn.c_proj.weight", TestGraph.Float, Hidden, Hidden)]);
            g.Node("SkipLayerNormalization", $"{p}/SkipLayerNorm", [o, residual, g.Weight($"h.{l}.ln_2.weight", TestGraph.Float, Hidden),
                g.Weight($"h.{l}.ln_2.bias", TestGraph.Float, Hidden), g.Weight($"h.{l}.attn.c_proj.bias", TestGraph.Float, Hidden)], Ms, outputs: 4,
                attributes: []);
            var skip = g.Graph.Node[^1];
            residual = skip.Output[3];
            var fc = g.Node("MatMul", $"{p}/mlp/c_fc/MatMul", [skip.Output[0], g.Weight($"h.{l}.mlp.c_fc.weight", TestGraph.Float, Hidden, 4 * Hidden)]);
            var act = g.Node("FastGelu", $"{p}/mlp/act/FastGelu", [fc, g.Weight($"h.{l}.mlp.c_fc.bias", TestGraph.Float, 4 * Hidden)], Ms);
            var down = g.Node("MatMul", $"{p}/mlp/c_proj/MatMul", [act, g.Weight($"h.{l}.mlp.c_proj.weight", TestGraph.Float, 4 * Hidden, Hidden)]);
            var next = l + 1 < layers ? $"h.{l + 1}.ln_1" : "ln_f";
            g.Node("SkipLayerNormalization", $"{p}/SkipLayerNorm_1", [down, residual, g.Weight($"{next}.weight", TestGraph.Float, Hidden),
                g.Weight($"{next}.bias", TestGraph.Float, Hidden), g.Weight($"h.{l}.mlp.c_proj.bias", TestGraph.Float, Hidden)], Ms, outputs: 4);
            ln = g.Graph.Node[^1].Output[0];
            residual = g.Graph.Node[^1].Output[3];
        }
        var output = g.Node("Identity", "/transformer/ln_f/Identity", [ln]);
        g.Output(output, TestGraph.Float);
        var model = g.ToModel();
        // Seeded weights: norms' gammas near 1, everything else small.
        var rng = new Random(seed);
        foreach (var t in model.Graph.Initializer.Where(t => t.DataType == TestGraph.Float))
        {
            var gamma = t.Name.EndsWith(".weight") && t.Name.Contains("ln_");
            var values = Enumerable.Range(0, t.RawData.Length / 4).Select(_ => (float)((gamma ? 1 : 0) + (rng.NextDouble() - 0.5) * 0.6)).ToArray();
            t.RawData = ByteString.CopyFrom(ElementEncoding.Encode(values, TestGraph.Float));
        }
        return model;
    }
}
