using Onnx;

namespace OnnxSteer.Tests.Sites;

/// <summary>
/// Decoder graphs in the shapes real exporters produce, built in code for site-detection tests. Names follow the
/// exporter's convention when <c>named</c> is true; unnamed graphs have empty node names and generic value names.
/// </summary>
internal static class SiteGraphs
{
    /// <summary>
    /// A Llama-like decoder in default-domain ops only: decomposed attention (MatMul/Softmax/MatMul/Transpose/Reshape →
    /// o_proj MatMul), RMSNorm from ReduceMean/Sqrt/Div, SiLU as Sigmoid*x, gated MLP, final norm and lm_head.
    /// </summary>
    public static ModelProto DecomposedLlama(int layers, int hidden, int heads, int intermediate, bool named = true,
        Func<int, string, string>? rename = null, bool namedWeights = true)
    {
        var g = new TestGraph();
        string? N(int layer, string part) => !named ? null : rename?.Invoke(layer, part) ?? $"/model/layers.{layer}/{part}";
        string W(string hint, params long[] dims) => g.Weight(named && namedWeights ? hint : $"w{g.Graph.Initializer.Count}", TestGraph.Float, dims);
        var headDim = hidden / heads;
        var x = g.Input("inputs_embeds", TestGraph.Float, hidden);
        var mask = g.Input("attention_bias", TestGraph.Float);
        var splitHeads = g.Weight(named ? "shape_split_heads" : "s0", TestGraph.Int64, 4);
        var mergeHeads = g.Weight(named ? "shape_merge_heads" : "s1", TestGraph.Int64, 3);
        for (var l = 0; l < layers; l++)
        {
            var h = RmsNorm(g, x, W($"model.layers.{l}.input_layernorm.weight", hidden), N(l, "input_layernorm"));
            string Heads(string proj, bool transposeForK)
            {
                var p = g.Node("MatMul", N(l, $"self_attn/{proj}/MatMul"), [h, W($"model.layers.{l}.self_attn.{proj}.weight", hidden, hidden)]);
                var r = g.Node("Reshape", N(l, $"self_attn/{proj}/Reshape"), [p, splitHeads]);
                return g.Node("Transpose", N(l, $"self_attn/{proj}/Transpose"), [r], attributes: TestGraph.Ints("perm", transposeForK ? [0, 2, 3, 1] : [0, 2, 1, 3]));
            }
            var q = Heads("q_proj", false);
            var k = Heads("k_proj", true);
            var v = Heads("v_proj", false);
            var scores = g.Node("MatMul", N(l, "self_attn/MatMul"), [q, k]);
            var scaled = g.Node("Div", N(l, "self_attn/Div"), [scores, W($"scale{l}")]);
            var masked = g.Node("Add", N(l, "self_attn/Add"), [scaled, mask]);
            var probs = g.Node("Softmax", N(l, "self_attn/Softmax"), [masked], attributes: TestGraph.Int("axis", -1));
            var context = g.Node("MatMul", N(l, "self_attn/MatMul_1"), [probs, v]);
            var merged = g.Node("Transpose", N(l, "self_attn/Transpose_out"), [context], attributes: TestGraph.Ints("perm", 0, 2, 1, 3));
            var flat = g.Node("Reshape", N(l, "self_attn/Reshape_out"), [merged, mergeHeads]);
            var o = g.Node("MatMul", N(l, "self_attn/o_proj/MatMul"), [flat, W($"model.layers.{l}.self_attn.o_proj.weight", hidden, hidden)]);
            x = g.Node("Add", N(l, "residual_attn/Add"), [x, o]);

            var h2 = RmsNorm(g, x, W($"model.layers.{l}.post_attention_layernorm.weight", hidden), N(l, "post_attention_layernorm"));
            var gate = g.Node("MatMul", N(l, "mlp/gate_proj/MatMul"), [h2, W($"model.layers.{l}.mlp.gate_proj.weight", hidden, intermediate)]);
            var up = g.Node("MatMul", N(l, "mlp/up_proj/MatMul"), [h2, W($"model.layers.{l}.mlp.up_proj.weight", hidden, intermediate)]);
            var sig = g.Node("Sigmoid", N(l, "mlp/act_fn/Sigmoid"), [gate]);
            var act = g.Node("Mul", N(l, "mlp/act_fn/Mul"), [gate, sig]);
            var gated = g.Node("Mul", N(l, "mlp/Mul"), [act, up]);
            var down = g.Node("MatMul", N(l, "mlp/down_proj/MatMul"), [gated, W($"model.layers.{l}.mlp.down_proj.weight", intermediate, hidden)]);
            x = g.Node("Add", N(l, "residual_mlp/Add"), [x, down]);
        }
        var final = RmsNorm(g, x, W("model.norm.weight", hidden), named ? "/model/norm" : null);
        var logits = g.Node("MatMul", named ? "/lm_head/MatMul" : null, [final, W("lm_head.weight", hidden, 97)]);
        g.Output(logits, TestGraph.Float);
        return g.ToModel();
    }

    /// <summary>RMSNorm the way default-domain exports write it: x / sqrt(mean(x^2) + eps) * w.</summary>
    private static string RmsNorm(TestGraph g, string x, string weight, string? name)
    {
        string? N(string part) => name is null ? null : $"{name}/{part}";
        var two = g.Weight($"{x}.two", TestGraph.Float);
        var eps = g.Weight($"{x}.eps", TestGraph.Float);
        var sq = g.Node("Pow", N("Pow"), [x, two]);
        var mean = g.Node("ReduceMean", N("ReduceMean"), [sq], attributes: TestGraph.Ints("axes", -1));
        var add = g.Node("Add", N("Add"), [mean, eps]);
        var root = g.Node("Sqrt", N("Sqrt"), [add]);
        var normed = g.Node("Div", N("Div"), [x, root]);
        return g.Node("Mul", N("Mul"), [normed, weight]);
    }

    /// <summary>
    /// A GPT-2-like decoder: LayerNormalization, one fused qkv projection split in three, decomposed attention whose
    /// 2-D (Flatten) context feeds the attention's c_proj, and an ungated MLP c_fc → Gelu → c_proj.
    /// With <paramref name="gemm"/> the projections are Gemm (c_fc with transB=1); otherwise MatMul + bias Add
    /// (the Hugging Face Conv1D export). <paramref name="tanhGelu"/> writes GELU as the tanh formula in elementary ops.
    /// </summary>
    public static ModelProto Gpt2(int layers, int hidden, int heads, bool gemm, bool tanhGelu = false)
    {
        var g = new TestGraph();
        var inner = 4 * hidden;
        var x = g.Input("inputs_embeds", TestGraph.Float, hidden);
        var splitHeads = g.Weight("shape_split_heads", TestGraph.Int64, 4);
        var restore = g.Weight("shape_restore", TestGraph.Int64, 3);
        string Linear(string name, string input, long k, long n, bool transB)
        {
            var b = g.Weight($"{name}.bias", TestGraph.Float, n);
            if (gemm)
            {
                var w = transB ? g.Weight($"{name}.weight", TestGraph.Float, n, k) : g.Weight($"{name}.weight", TestGraph.Float, k, n);
                return g.Node("Gemm", $"{name}/Gemm", [input, w, b], attributes: TestGraph.Int("transB", transB ? 1 : 0));
            }
            var mm = g.Node("MatMul", $"{name}/MatMul", [input, g.Weight($"{name}.weight", TestGraph.Float, k, n)]);
            return g.Node("Add", $"{name}/Add", [mm, b]);
        }
        for (var l = 0; l < layers; l++)
        {
            var p = $"/transformer/h.{l}";
            var ln1 = g.Node("LayerNormalization", $"{p}/ln_1/LayerNormalization",
                [x, g.Weight($"h.{l}.ln_1.weight", TestGraph.Float, hidden), g.Weight($"h.{l}.ln_1.bias", TestGraph.Float, hidden)]);
            var flatIn = g.Node("Flatten", $"{p}/attn/Flatten", [ln1], attributes: TestGraph.Int("axis", 2));
            var qkv = Linear($"{p}/attn/c_attn", flatIn, hidden, 3 * hidden, transB: true);
            var split = g.Node("Split", $"{p}/attn/Split", [qkv], outputs: 3, attributes: TestGraph.Int("axis", -1));
            var splitNode = g.Graph.Node[^1];
            string Heads(int i, long[] perm)
            {
                var r = g.Node("Reshape", $"{p}/attn/Reshape_{i}", [splitNode.Output[i], splitHeads]);
                return g.Node("Transpose", $"{p}/attn/Transpose_{i}", [r], attributes: TestGraph.Ints("perm", perm));
            }
            _ = split;
            var q = Heads(0, [0, 2, 1, 3]);
            var k = Heads(1, [0, 2, 3, 1]);
            var v = Heads(2, [0, 2, 1, 3]);
            var scores = g.Node("MatMul", $"{p}/attn/MatMul", [q, k]);
            var probs = g.Node("Softmax", $"{p}/attn/Softmax", [scores], attributes: TestGraph.Int("axis", -1));
            var context = g.Node("MatMul", $"{p}/attn/MatMul_1", [probs, v]);
            var merged = g.Node("Transpose", $"{p}/attn/Transpose_3", [context], attributes: TestGraph.Ints("perm", 0, 2, 1, 3));
            var restored = g.Node("Reshape", $"{p}/attn/Reshape_3", [merged, restore]);
            var flat = g.Node("Flatten", $"{p}/attn/c_proj/Flatten", [restored], attributes: TestGraph.Int("axis", 2));
            var attnOut = Linear($"{p}/attn/c_proj", flat, hidden, hidden, transB: false);
            x = g.Node("Add", $"{p}/Add", [x, attnOut]);

            var ln2 = g.Node("LayerNormalization", $"{p}/ln_2/LayerNormalization",
                [x, g.Weight($"h.{l}.ln_2.weight", TestGraph.Float, hidden), g.Weight($"h.{l}.ln_2.bias", TestGraph.Float, hidden)]);
            var fc = Linear($"{p}/mlp/c_fc", ln2, hidden, inner, transB: true);
            var act = tanhGelu ? TanhGelu(g, fc, $"{p}/mlp/act") : g.Node("Gelu", $"{p}/mlp/act/Gelu", [fc]);
            var mlpOut = Linear($"{p}/mlp/c_proj", act, inner, hidden, transB: false);
            x = g.Node("Add", $"{p}/Add_1", [x, mlpOut]);
        }
        g.Output(x, TestGraph.Float);
        return g.ToModel();
    }

    /// <summary>0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) in elementary ops, as older GPT-2 exports write GELU.</summary>
    private static string TanhGelu(TestGraph g, string x, string name)
    {
        var three = g.Weight($"{name}.three", TestGraph.Float);
        var c = g.Weight($"{name}.c", TestGraph.Float);
        var s = g.Weight($"{name}.s", TestGraph.Float);
        var one = g.Weight($"{name}.one", TestGraph.Float);
        var half = g.Weight($"{name}.half", TestGraph.Float);
        var cube = g.Node("Pow", $"{name}/Pow", [x, three]);
        var scaled = g.Node("Mul", $"{name}/Mul", [cube, c]);
        var inner = g.Node("Add", $"{name}/Add", [x, scaled]);
        var arg = g.Node("Mul", $"{name}/Mul_1", [inner, s]);
        var tanh = g.Node("Tanh", $"{name}/Tanh", [arg]);
        var onePlus = g.Node("Add", $"{name}/Add_1", [tanh, one]);
        var halfX = g.Node("Mul", $"{name}/Mul_2", [x, half]);
        return g.Node("Mul", $"{name}/Mul_3", [halfX, onePlus]);
    }

    /// <summary>
    /// An int4 onnxruntime-genai-like decoder: SimplifiedLayerNormalization, MatMulNBits q/k/v and o_proj around
    /// GroupQueryAttention, MatMulNBits gate/up/down with SiLU as Sigmoid*x (even layers) or com.microsoft QuickGelu
    /// (odd layers). Activations are fp16 (the scales' type).
    /// </summary>
    public static ModelProto MatMulNBitsDecoder(int layers, int hidden, int intermediate)
    {
        var g = new TestGraph();
        const int block = 32;
        var x = g.Input("inputs_embeds", TestGraph.Float16, hidden);
        string NBits(string name, string input, long k, long n)
        {
            var blocks = (k + block - 1) / block;
            var w = g.Weight($"{name}.weight_Q4", TestGraph.UInt8, n, blocks, block / 2);
            var scales = g.Weight($"{name}.weight_scales", TestGraph.Float16, n * blocks);
            return g.Node("MatMulNBits", $"{name}/MatMulNBits", [input, w, scales], domain: "com.microsoft",
                attributes: [TestGraph.Int("K", k), TestGraph.Int("N", n), TestGraph.Int("bits", 4), TestGraph.Int("block_size", block)]);
        }
        for (var l = 0; l < layers; l++)
        {
            var p = $"/model/layers.{l}";
            var h = g.Node("SimplifiedLayerNormalization", $"{p}/input_layernorm/LayerNorm", [x, g.Weight($"ln{l}", TestGraph.Float16, hidden)]);
            var q = NBits($"{p}/attn/q_proj", h, hidden, hidden);
            var k = NBits($"{p}/attn/k_proj", h, hidden, hidden / 2);
            var v = NBits($"{p}/attn/v_proj", h, hidden, hidden / 2);
            var gqa = g.Node("GroupQueryAttention", $"{p}/attn/GroupQueryAttention", [q, k, v, $"past_key_values.{l}.key", $"past_key_values.{l}.value"],
                domain: "com.microsoft", outputs: 3, attributes: [TestGraph.Int("num_heads", 4), TestGraph.Int("kv_num_heads", 2)]);
            var o = NBits($"{p}/attn/o_proj", gqa, hidden, hidden);
            x = g.Node("Add", $"{p}/residual/Add", [x, o]);
            var h2 = g.Node("SimplifiedLayerNormalization", $"{p}/post_attention_layernorm/LayerNorm", [x, g.Weight($"pln{l}", TestGraph.Float16, hidden)]);
            var gate = NBits($"{p}/mlp/gate_proj", h2, hidden, intermediate);
            var up = NBits($"{p}/mlp/up_proj", h2, hidden, intermediate);
            var act = l % 2 == 0
                ? g.Node("Mul", $"{p}/mlp/act_fn/Mul", [gate, g.Node("Sigmoid", $"{p}/mlp/act_fn/Sigmoid", [gate])])
                : g.Node("QuickGelu", $"{p}/mlp/act_fn/QuickGelu", [gate], domain: "com.microsoft");
            var gated = g.Node("Mul", $"{p}/mlp/Mul", [act, up]);
            var down = NBits($"{p}/mlp/down_proj", gated, intermediate, hidden);
            x = g.Node("Add", $"{p}/residual_mlp/Add", [x, down]);
        }
        g.Output(x, TestGraph.Float16);
        return g.ToModel();
    }

    /// <summary>
    /// Projections named like o_proj and down_proj that have no attention or activation around them: a linear chain.
    /// </summary>
    public static ModelProto MisleadinglyNamed()
    {
        var g = new TestGraph();
        var x = g.Input("x", TestGraph.Float, 8);
        var o = g.Node("MatMul", "/model/layers.0/self_attn/o_proj/MatMul", [x, g.Weight("o.weight", TestGraph.Float, 8, 8)]);
        var sum = g.Node("Add", "/model/layers.0/Add", [x, o]);
        var up = g.Node("MatMul", "/model/layers.0/mlp/up_proj/MatMul", [sum, g.Weight("up.weight", TestGraph.Float, 8, 24)]);
        var scaled = g.Node("Mul", "/model/layers.0/mlp/Mul", [up, g.Weight("two", TestGraph.Float)]);
        var down = g.Node("MatMul", "/model/layers.0/mlp/down_proj/MatMul", [scaled, g.Weight("down.weight", TestGraph.Float, 24, 8)]);
        var softmax = g.Node("Softmax", "/model/layers.0/attn/Softmax", [down]);
        g.Output(softmax, TestGraph.Float);
        return g.ToModel();
    }
}
