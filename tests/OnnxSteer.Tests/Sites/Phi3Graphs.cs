using Google.Protobuf;
using Onnx;
using OnnxSteer.Import;
using OnnxSteer.Patching;
using OnnxSteer.Tests.Patching;

namespace OnnxSteer.Tests.Sites;

/// <summary>How a fused projection's output is cut into its parts: one Split with explicit sizes, or Slices on the last axis.</summary>
public enum FusedCut { Split, Slices }

/// <summary>
/// Phi-3-style decoders built with <see cref="GraphBuilder"/>: one fused qkv projection and one fused gate_up projection
/// per layer, cut into parts the way exporters do (Split with explicit sizes, or Slices on the last axis), with random
/// weights so ONNX Runtime can run them.
/// </summary>
internal static class Phi3Graphs
{
    public const int F32 = (int)TensorProto.Types.DataType.Float;

    /// <summary>Sizes of <see cref="Fp32Decoder"/>.</summary>
    public const int Hidden = 16, Heads = 2, HeadDim = Hidden / Heads, Intermediate = 24, Vocab = 11;

    /// <summary>
    /// An fp32 decoder of <paramref name="layers"/> layers: LayerNormalization → fused qkv MatMul [H, 3H] → cut →
    /// decomposed attention → o_proj → residual; LayerNormalization → fused gate_up MatMul [H, 2I] → cut into gate
    /// (first half) and up (second half) → up · (gate · Sigmoid(gate)) → down_proj → residual; lm_head on the last
    /// residual (no final norm, so a test can recompute the logits from the last down_proj input). Layer l uses
    /// <paramref name="cuts"/>[l % cuts.Length]. Graph input <c>inputs_embeds</c> [1, T, H], output <c>logits</c>.
    /// </summary>
    public static ModelProto Fp32Decoder(int layers, FusedCut[] cuts, int seed = 5)
    {
        var b = new GraphBuilder();
        var rng = new Random(seed);
        string W(string name, params long[] dims) => Weight(b, name, dims, rng);
        b.Input("inputs_embeds", TensorProto.Types.DataType.Float, 1, "sequence", Hidden);
        var x = "inputs_embeds";
        var splitHeads = b.Int64s(0, 0, Heads, HeadDim);
        var mergeHeads = b.Int64s(0, 0, Hidden);
        for (var l = 0; l < layers; l++)
        {
            var p = $"/model/layers.{l}";
            var cut = cuts[l % cuts.Length];
            var ln1 = b.Op("LayerNormalization", $"{p}/input_layernorm/LayerNorm",
                [x, W($"model.layers.{l}.input_layernorm.weight", Hidden), W($"model.layers.{l}.input_layernorm.bias", Hidden)],
                GraphBuilder.Attr("axis", -1L));
            var qkv = b.Op("MatMul", $"{p}/attn/qkv_proj/MatMul", [ln1, W($"model.layers.{l}.self_attn.qkv_proj.weight", Hidden, 3 * Hidden)]);
            var (q, k, v) = cut == FusedCut.Split
                ? Three(b.Node("Split", $"{p}/attn/qkv_proj/Split", [qkv, b.Int64s(Hidden, Hidden, Hidden)], 3, "", GraphBuilder.Attr("axis", -1L)))
                : (Slice(b, $"{p}/attn/Slice", qkv, 0, Hidden), Slice(b, $"{p}/attn/Slice_1", qkv, Hidden, 2 * Hidden),
                   Slice(b, $"{p}/attn/Slice_2", qkv, 2 * Hidden, 3 * Hidden));
            string Heads(string value, string part, long[] perm) => b.Op("Transpose", $"{p}/attn/{part}/Transpose",
                [b.Op("Reshape", $"{p}/attn/{part}/Reshape", [value, splitHeads])], GraphBuilder.Attr("perm", perm));
            var scores = b.Op("MatMul", $"{p}/attn/MatMul", [Heads(q, "q", [0, 2, 1, 3]), Heads(k, "k", [0, 2, 3, 1])]);
            var scaled = b.Op("Mul", $"{p}/attn/Mul", [scores, b.Float(1f / MathF.Sqrt(HeadDim), fp16: false)]);
            var probs = b.Op("Softmax", $"{p}/attn/Softmax", [scaled], GraphBuilder.Attr("axis", -1L));
            var context = b.Op("MatMul", $"{p}/attn/MatMul_1", [probs, Heads(v, "v", [0, 2, 1, 3])]);
            var merged = b.Op("Reshape", $"{p}/attn/Reshape_out",
                [b.Op("Transpose", $"{p}/attn/Transpose_out", [context], GraphBuilder.Attr("perm", new long[] { 0, 2, 1, 3 })), mergeHeads]);
            var o = b.Op("MatMul", $"{p}/attn/o_proj/MatMul", [merged, W($"model.layers.{l}.self_attn.o_proj.weight", Hidden, Hidden)]);
            x = b.Op("Add", $"{p}/residual_attn/Add", [x, o]);

            var ln2 = b.Op("LayerNormalization", $"{p}/post_attention_layernorm/LayerNorm",
                [x, W($"model.layers.{l}.post_attention_layernorm.weight", Hidden), W($"model.layers.{l}.post_attention_layernorm.bias", Hidden)],
                GraphBuilder.Attr("axis", -1L));
            var gateUp = b.Op("MatMul", $"{p}/mlp/gate_up_proj/MatMul", [ln2, W($"model.layers.{l}.mlp.gate_up_proj.weight", Hidden, 2 * Intermediate)]);
            var (gate, up) = cut == FusedCut.Split
                ? Two(b.Node("Split", $"{p}/mlp/Split", [gateUp, b.Int64s(Intermediate, Intermediate)], 2, "", GraphBuilder.Attr("axis", -1L)))
                : (Slice(b, $"{p}/mlp/Slice", gateUp, 0, Intermediate), Slice(b, $"{p}/mlp/Slice_1", gateUp, Intermediate, long.MaxValue));
            var act = b.Op("Mul", $"{p}/mlp/act_fn/Mul", [gate, b.Op("Sigmoid", $"{p}/mlp/act_fn/Sigmoid", [gate])]);
            var m = b.Op("Mul", $"{p}/mlp/Mul", [up, act]);
            var down = b.Op("MatMul", $"{p}/mlp/down_proj/MatMul", [m, W($"model.layers.{l}.mlp.down_proj.weight", Intermediate, Hidden)]);
            x = b.Op("Add", $"{p}/residual_mlp/Add", [x, down]);
        }
        b.NodeWithOutputs("MatMul", "/lm_head/MatMul", [x, W("lm_head.weight", Hidden, Vocab)], ["logits"]);
        b.Output("logits", TensorProto.Types.DataType.Float, 1, "sequence", Vocab);
        return Model(b.Graph);
    }

    /// <summary>Slice of the last axis [start, end), bounds as int64 constants, axes [-1].</summary>
    public static string Slice(GraphBuilder b, string name, string data, long start, long end) =>
        b.Op("Slice", name, [data, b.Int64s(start), b.Int64s(end), b.Int64s(-1)]);

    private static (string, string, string) Three(string[] o) => (o[0], o[1], o[2]);
    private static (string, string) Two(string[] o) => (o[0], o[1]);

    /// <summary>A named fp32 initializer with seeded values in [-0.5, 0.5).</summary>
    public static string Weight(GraphBuilder b, string name, long[] dims, Random rng)
    {
        var count = (int)dims.Aggregate(1L, (a, d) => a * d);
        var values = Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var t = GraphBuilder.Tensor(TensorProto.Types.DataType.Float, dims, ElementEncoding.Encode(values, F32));
        t.Name = name;
        b.Graph.Initializer.Add(t);
        return name;
    }

    /// <summary>The float values of initializer <paramref name="name"/>.</summary>
    public static float[] Values(ModelProto model, string name) =>
        ElementEncoding.Decode(model.Graph.Initializer.Single(i => i.Name == name).RawData.ToByteArray(), F32);

    /// <summary>Wraps a graph in a model with opset 21 and com.microsoft 1.</summary>
    public static ModelProto Model(GraphProto graph)
    {
        var model = new ModelProto { IrVersion = 10, Graph = graph, ProducerName = "OnnxSteer.Tests" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        return model;
    }

    /// <summary>Runs <paramref name="model"/> on <paramref name="tokens"/> seeded random embeddings, returning the wanted values.</summary>
    public static Dictionary<string, float[]> Run(ModelProto model, int tokens, int seed, params string[] wanted)
    {
        using var x = OrtHarness.Tensor(OrtHarness.Random(tokens * Hidden, seed), [1, tokens, Hidden], F32);
        return OrtHarness.Run(model, null, new Dictionary<string, OrtValue> { ["inputs_embeds"] = x }, wanted, F32);
    }
}
