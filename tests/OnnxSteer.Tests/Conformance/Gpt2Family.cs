using Google.Protobuf;
using Onnx;
using OnnxSteer.Import;
using OnnxSteer.Patching;
using static OnnxSteer.Import.GraphBuilder;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// Decoders with past as Optimum's torch.onnx export (TorchScript) writes GPT-2 and GPT-NeoX, fp32, seeded weights:
/// <list type="bullet">
/// <item>GPT-2 (<c>/transformer/h.N/…</c>): learned positions (wte + wpe Gathers), LayerNormalization ln_1 / ln_2 /
/// ln_f, every Conv1D as <c>Reshape(−1, in) → Gemm(x, W[in, out], b) → Reshape(batch, seq, out)</c> (torch.addmm),
/// c_attn split into q, k, v, gelu_new decomposed (Pow, Tanh), sequential residuals, lm_head tied to wte.</item>
/// <item>GPT-NeoX (<c>/gpt_neox/layers.N/…</c>): nn.Linear as MatMul + Add of the bias, fused query_key_value,
/// exact GELU (Erf), parallel residual (x + attention(ln₁ x) + mlp(ln₂ x)), untied embed_out. Rotary embedding is left
/// out (it acts on q and k only, never on a site).</item>
/// </list>
/// Attention is decomposed (Reshape, Transpose, KV Concat with the past → present, MatMul, Div, additive causal +
/// padding mask, Softmax, MatMul), inputs input_ids, attention_mask, position_ids, past_key_values.N.key/value
/// [batch, heads, past, head size]; outputs logits and present.N.key/value.
/// </summary>
internal static class Gpt2Family
{
    public const int Hidden = 32, Heads = 2, HeadSize = Hidden / Heads, Vocab = 512, Positions = 64;
    private const TensorProto.Types.DataType F32 = TensorProto.Types.DataType.Float;

    public static ModelProto Build(bool neox, int layers = 2, int seed = 9)
    {
        var g = new GraphBuilder("/output_0");
        var rng = new Random(seed);
        string Weight(string name, float center, float spread, params long[] dims)
        {
            var values = Enumerable.Range(0, (int)dims.Aggregate(1L, (a, b) => a * b)).Select(_ => center + (float)(rng.NextDouble() * 2 - 1) * spread).ToArray();
            g.Graph.Initializer.Add(ExportEdits.Tensor(name, (int)F32, values, dims));
            return name;
        }
        string Linear(string basename, string input, int k, int n, string param)
        {
            var w = Weight($"{param}.weight", 0, MathF.Sqrt(3f / k), k, n);
            var b = Weight($"{param}.bias", 0, 0.1f, n);
            if (neox) return g.Op("Add", $"{basename}/Add", [g.Op("MatMul", $"{basename}/MatMul", [input, w]), b]);
            var flat = g.Op("Reshape", $"{basename}/Reshape", [input, g.Int64s(-1, k)]);
            var gemm = g.Op("Gemm", $"{basename}/Gemm", [flat, w, b], Attr("alpha", 1f), Attr("beta", 1f));
            var leading = g.Op("Slice", $"{basename}/Slice", [g.Op("Shape", $"{basename}/Shape", [input]), g.Int64s(0), g.Int64s(2)]);
            return g.Op("Reshape", $"{basename}/Reshape_1", [gemm, g.Op("Concat", $"{basename}/Concat", [leading, g.Int64s(n)], Attr("axis", 0L))]);
        }
        string Norm(string basename, string input, string param) => g.Op("LayerNormalization", $"{basename}/LayerNormalization",
            [input, Weight($"{param}.weight", 1, 0.1f, Hidden), Weight($"{param}.bias", 0, 0.1f, Hidden)], Attr("axis", -1L), Attr("epsilon", 1e-5f));

        g.Input("input_ids", TensorProto.Types.DataType.Int64, "batch_size", "sequence_length");
        g.Input("attention_mask", TensorProto.Types.DataType.Int64, "batch_size", "past_sequence_length + sequence_length");
        g.Input("position_ids", TensorProto.Types.DataType.Int64, "batch_size", "sequence_length");
        for (var l = 0; l < layers; l++)
            foreach (var kv in new[] { "key", "value" })
                g.Input($"past_key_values.{l}.{kv}", F32, "batch_size", Heads, "past_sequence_length", HeadSize);
        g.Output("logits", F32, "batch_size", "sequence_length", Vocab);
        for (var l = 0; l < layers; l++)
            foreach (var kv in new[] { "key", "value" })
                g.Output($"present.{l}.{kv}", F32, "batch_size", Heads, "past_sequence_length + sequence_length", HeadSize);

        var root = neox ? "/gpt_neox" : "/transformer";
        var param = neox ? "gpt_neox" : "transformer";
        var wte = Weight(neox ? "gpt_neox.embed_in.weight" : "transformer.wte.weight", 0, 1, Vocab, Hidden);
        var x = g.Op("Gather", neox ? $"{root}/embed_in/Gather" : $"{root}/wte/Gather", [wte, "input_ids"]);
        if (!neox) x = g.Op("Add", $"{root}/Add", [x, g.Op("Gather", $"{root}/wpe/Gather", [Weight("transformer.wpe.weight", 0, 0.5f, Positions, Hidden), "position_ids"])]);
        var m = $"{root}/attn_mask";
        var mask = AttentionMaskGraph.Additive(g, false, new AttentionMaskNames($"{m}/Shape", $"{m}/Gather", $"{m}/Shape_1", $"{m}/Gather_1",
            $"{m}/Sub", $"{m}/Range", $"{m}/Range_1", $"{m}/Unsqueeze", $"{m}/LessOrEqual", $"{m}/Cast", $"{m}/Unsqueeze_1", $"{m}/And", $"{m}/Where"));

        for (var l = 0; l < layers; l++)
        {
            var p = neox ? $"{root}/layers.{l}" : $"{root}/h.{l}";
            var w = neox ? $"{param}.layers.{l}" : $"{param}.h.{l}";
            var (attention, a) = neox ? ($"{p}/attention", $"{w}.attention") : ($"{p}/attn", $"{w}.attn");
            var normed = Norm(neox ? $"{p}/input_layernorm" : $"{p}/ln_1", x, neox ? $"{w}.input_layernorm" : $"{w}.ln_1");
            var qkv = Linear(neox ? $"{attention}/query_key_value" : $"{attention}/c_attn", normed, Hidden, 3 * Hidden, neox ? $"{a}.query_key_value" : $"{a}.c_attn");
            var parts = g.Node("Split", $"{attention}/Split", [qkv, g.Int64s(Hidden, Hidden, Hidden)], 3, "", Attr("axis", 2L));
            string Heads4d(string value, string name) => g.Op("Transpose", $"{attention}/Transpose{name}",
                [g.Op("Reshape", $"{attention}/Reshape{name}", [value, g.Int64s(0, 0, Heads, HeadSize)])], Attr("perm", [0L, 2, 1, 3]));
            var q = Heads4d(parts[0], "_q");
            var keys = $"present.{l}.key";
            var values = $"present.{l}.value";
            g.NodeWithOutputs("Concat", $"{attention}/Concat", [$"past_key_values.{l}.key", Heads4d(parts[1], "_k")], [keys], "", Attr("axis", 2L));
            g.NodeWithOutputs("Concat", $"{attention}/Concat_1", [$"past_key_values.{l}.value", Heads4d(parts[2], "_v")], [values], "", Attr("axis", 2L));
            var scores = g.Op("Div", $"{attention}/Div", [g.Op("MatMul", $"{attention}/MatMul",
                [q, g.Op("Transpose", $"{attention}/Transpose_kT", [keys], Attr("perm", [0L, 1, 3, 2]))]), g.Float(MathF.Sqrt(HeadSize), false)]);
            var probabilities = g.Op("Softmax", $"{attention}/Softmax", [g.Op("Add", $"{attention}/Add", [scores, mask])], Attr("axis", -1L));
            var context = g.Op("Reshape", $"{attention}/Reshape_merge", [g.Op("Transpose", $"{attention}/Transpose_merge",
                [g.Op("MatMul", $"{attention}/MatMul_1", [probabilities, values])], Attr("perm", [0L, 2, 1, 3])), g.Int64s(0, 0, Hidden)]);
            var attended = Linear(neox ? $"{attention}/dense" : $"{attention}/c_proj", context, Hidden, Hidden, neox ? $"{a}.dense" : $"{a}.c_proj");

            var mlpInput = neox ? x : g.Op("Add", $"{p}/Add", [x, attended]);
            var normed2 = Norm(neox ? $"{p}/post_attention_layernorm" : $"{p}/ln_2", mlpInput, neox ? $"{w}.post_attention_layernorm" : $"{w}.ln_2");
            var up = Linear(neox ? $"{p}/mlp/dense_h_to_4h" : $"{p}/mlp/c_fc", normed2, Hidden, 4 * Hidden, neox ? $"{w}.mlp.dense_h_to_4h" : $"{w}.mlp.c_fc");
            var activated = neox ? Gelu(g, $"{p}/mlp/act", up) : GeluNew(g, $"{p}/mlp/act", up);
            var down = Linear(neox ? $"{p}/mlp/dense_4h_to_h" : $"{p}/mlp/c_proj", activated, 4 * Hidden, Hidden, neox ? $"{w}.mlp.dense_4h_to_h" : $"{w}.mlp.c_proj");
            x = neox ? g.Op("Add", $"{p}/Add_1", [g.Op("Add", $"{p}/Add", [attended, down]), x]) : g.Op("Add", $"{p}/Add_1", [mlpInput, down]);
        }
        var final = Norm(neox ? $"{root}/final_layer_norm" : $"{root}/ln_f", x, neox ? "gpt_neox.final_layer_norm" : "transformer.ln_f");
        var head = neox ? Weight("embed_out.weight", 0, MathF.Sqrt(3f / Hidden), Hidden, Vocab) : TiedHead(g, wte);
        g.NodeWithOutputs("MatMul", neox ? "/embed_out/MatMul" : "/lm_head/MatMul", [final, head], ["logits"]);

        var model = new ModelProto { IrVersion = 8, ProducerName = "pytorch", ProducerVersion = "2.1.0", Graph = g.Graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model;
    }

    /// <summary>gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).</summary>
    private static string GeluNew(GraphBuilder g, string b, string x)
    {
        var cube = g.Op("Mul", $"{b}/Mul_1", [g.Op("Pow", $"{b}/Pow", [x, g.Float(3f, false)]), g.Float(0.044715f, false)]);
        var inner = g.Op("Mul", $"{b}/Mul_2", [g.Op("Add", $"{b}/Add", [x, cube]), g.Float(MathF.Sqrt(2f / MathF.PI), false)]);
        var gate = g.Op("Add", $"{b}/Add_1", [g.Op("Tanh", $"{b}/Tanh", [inner]), g.Float(1f, false)]);
        return g.Op("Mul", $"{b}/Mul_3", [g.Op("Mul", $"{b}/Mul", [x, g.Float(0.5f, false)]), gate]);
    }

    /// <summary>Exact GELU as torch.onnx writes nn.GELU(): x·0.5·(1 + erf(x / √2)).</summary>
    private static string Gelu(GraphBuilder g, string b, string x)
    {
        var erf = g.Op("Erf", $"{b}/Erf", [g.Op("Div", $"{b}/Div", [x, g.Float(MathF.Sqrt(2f), false)])]);
        return g.Op("Mul", $"{b}/Mul_1", [g.Op("Mul", $"{b}/Mul", [x, g.Op("Add", $"{b}/Add", [erf, g.Float(1f, false)])]), g.Float(0.5f, false)]);
    }

    /// <summary>GPT-2's lm_head shares wte: the export stores it transposed, [hidden, vocab].</summary>
    private static string TiedHead(GraphBuilder g, string wte)
    {
        var embedding = g.Graph.Initializer.Single(t => t.Name == wte);
        var values = ElementEncoding.Decode(embedding.RawData.Span, embedding.DataType);
        var transposed = new float[values.Length];
        for (var v = 0; v < Vocab; v++)
            for (var h = 0; h < Hidden; h++) transposed[h * Vocab + v] = values[v * Hidden + h];
        g.Graph.Initializer.Add(ExportEdits.Tensor("onnx::MatMul_lm_head", (int)F32, transposed, Hidden, Vocab));
        return "onnx::MatMul_lm_head";
    }
}
