using Onnx;
using static OnnxSteer.Import.GraphBuilder;

namespace OnnxSteer.Import;

/// <summary>
/// Builds a Llama graph from default-domain operators only, shaped like a Hugging Face Optimum export: RMSNorm as
/// Pow/ReduceMean/Add/Sqrt/Div/Mul, interleaved rotary embedding from Split/Mul/Sub/Add/Concat, decomposed attention
/// (MatMul, explicit causal + padding mask, Softmax) with the KV cache concatenated, SiLU as Sigmoid*x, and int4 as a
/// blocked DequantizeLinear (opset 21) feeding each MatMul. Inputs: input_ids, attention_mask, position_ids,
/// past_key_values.N.key/value; outputs: logits, present.N.key/value.
/// </summary>
internal sealed class StandardGraphWriter(ILlamaWeights weights, WeightSink sink, ExportDType dtype)
{
    private readonly LlamaConfig _c = weights.Config;
    private readonly GraphBuilder _g = new("_output_0");
    private bool Fp16 => dtype == ExportDType.Fp16;
    private TensorProto.Types.DataType IoType => Fp16 ? TensorProto.Types.DataType.Float16 : TensorProto.Types.DataType.Float;

    /// <summary>Builds the graph, writing every weight to the sink.</summary>
    public GraphProto Build()
    {
        DeclareInputsAndOutputs();
        string mask = AttentionMask();
        var (cos, sin) = RotaryAngles();
        _g.Graph.Initializer.Add(WeightEncoder.Float(sink, "model.embed_tokens.weight", weights, LlamaTensor.Embedding, 0, Fp16));
        string hidden = _g.Op("Gather", "/model/embed_tokens/Gather", ["model.embed_tokens.weight", "input_ids"]);
        for (int layer = 0; layer < _c.Layers; layer++)
        {
            string p = $"/model/layers.{layer}";
            string normed = RmsNorm($"{p}/input_layernorm", hidden, $"model.layers.{layer}.input_layernorm.weight", LlamaTensor.AttentionNorm, layer);
            string attention = Attention(layer, normed, mask, cos, sin);
            hidden = _g.Op("Add", $"{p}/Add", [hidden, attention]);
            normed = RmsNorm($"{p}/post_attention_layernorm", hidden, $"model.layers.{layer}.post_attention_layernorm.weight", LlamaTensor.FeedForwardNorm, layer);
            string mlp = Mlp(layer, normed);
            hidden = _g.Op("Add", $"{p}/Add_1", [hidden, mlp]);
        }
        string final = RmsNorm("/model/norm", hidden, "model.norm.weight", LlamaTensor.FinalNorm, 0);
        Projection("/lm_head", "lm_head", final, LlamaTensor.LmHead, 0, outputName: "logits");
        return _g.Graph;
    }

    private void DeclareInputsAndOutputs()
    {
        _g.Input("input_ids", TensorProto.Types.DataType.Int64, "batch_size", "sequence_length");
        _g.Input("attention_mask", TensorProto.Types.DataType.Int64, "batch_size", "total_sequence_length");
        _g.Input("position_ids", TensorProto.Types.DataType.Int64, "batch_size", "sequence_length");
        for (int l = 0; l < _c.Layers; l++)
        {
            _g.Input($"past_key_values.{l}.key", IoType, "batch_size", _c.KvHeads, "past_sequence_length", _c.HeadSize);
            _g.Input($"past_key_values.{l}.value", IoType, "batch_size", _c.KvHeads, "past_sequence_length", _c.HeadSize);
        }
        _g.Output("logits", IoType, "batch_size", "sequence_length", _c.VocabSize);
        for (int l = 0; l < _c.Layers; l++)
        {
            _g.Output($"present.{l}.key", IoType, "batch_size", _c.KvHeads, "total_sequence_length", _c.HeadSize);
            _g.Output($"present.{l}.value", IoType, "batch_size", _c.KvHeads, "total_sequence_length", _c.HeadSize);
        }
    }

    /// <summary>
    /// Additive mask [batch, 1, seq, total]: 0 where key position j is visible from query i (j &lt;= past + i and
    /// attention_mask[b, j] = 1), the dtype's lowest value elsewhere.
    /// </summary>
    private string AttentionMask()
    {
        const string b = "/model/attn_mask";
        return AttentionMaskGraph.Additive(_g, Fp16, new AttentionMaskNames(
            $"{b}/Shape", $"{b}/Gather", $"{b}/Shape_1", $"{b}/Gather_1", $"{b}/Sub", $"{b}/Range", $"{b}/Range_1",
            $"{b}/Unsqueeze", $"{b}/LessOrEqual", $"{b}/Cast", $"{b}/Unsqueeze_1", $"{b}/And", $"{b}/Where"));
    }

    /// <summary>cos/sin of each position's rotary angles, gathered once: [batch, seq, 1, headSize/2, 1].</summary>
    private (string Cos, string Sin) RotaryAngles()
    {
        var (cos, sin) = RopeTables.Compute(_c.MaxSequenceLength, _c.HeadSize, _c.RopeTheta);
        long[] dims = [_c.MaxSequenceLength, _c.HeadSize / 2];
        _g.Graph.Initializer.Add(WeightEncoder.Constant(sink, "model.rotary_emb.cos_cached", cos, dims, Fp16));
        _g.Graph.Initializer.Add(WeightEncoder.Constant(sink, "model.rotary_emb.sin_cached", sin, dims, Fp16));
        string c = _g.Op("Gather", "/model/rotary_emb/Gather", ["model.rotary_emb.cos_cached", "position_ids"], Attr("axis", 0L));
        string s = _g.Op("Gather", "/model/rotary_emb/Gather_1", ["model.rotary_emb.sin_cached", "position_ids"], Attr("axis", 0L));
        string axes = _g.Int64s(2, 4);
        return (_g.Op("Unsqueeze", "/model/rotary_emb/Unsqueeze", [c, axes]), _g.Op("Unsqueeze", "/model/rotary_emb/Unsqueeze_1", [s, axes]));
    }

    private string RmsNorm(string basename, string input, string weightName, LlamaTensor tensor, int layer)
    {
        _g.Graph.Initializer.Add(WeightEncoder.Float(sink, weightName, weights, tensor, layer, Fp16));
        string squared = _g.Op("Pow", $"{basename}/Pow", [input, _g.Float(2f, Fp16)]);
        string mean = _g.Op("ReduceMean", $"{basename}/ReduceMean", [squared, _g.Int64s(-1)], Attr("keepdims", 1L));
        string shifted = _g.Op("Add", $"{basename}/Add", [mean, _g.Float(_c.NormEpsilon, Fp16)]);
        string root = _g.Op("Sqrt", $"{basename}/Sqrt", [shifted]);
        string scaled = _g.Op("Div", $"{basename}/Div", [input, root]);
        return _g.Op("Mul", $"{basename}/Mul", [weightName, scaled]);
    }

    /// <summary>Rotates adjacent pairs (x[2i], x[2i+1]) of each head by the position's angle i, as llama2.c does.</summary>
    private string Rotary(string basename, string input, int heads, string cos, string sin)
    {
        string pairs = _g.Op("Reshape", $"{basename}/Reshape", [input, _g.Int64s(0, 0, heads, _c.HeadSize / 2, 2)]);
        var halves = _g.Node("Split", $"{basename}/Split", [pairs], 2, "", Attr("axis", -1L), Attr("num_outputs", 2L));
        string evenCos = _g.Op("Mul", $"{basename}/Mul", [halves[0], cos]);
        string oddSin = _g.Op("Mul", $"{basename}/Mul_1", [halves[1], sin]);
        string evenSin = _g.Op("Mul", $"{basename}/Mul_2", [halves[0], sin]);
        string oddCos = _g.Op("Mul", $"{basename}/Mul_3", [halves[1], cos]);
        string even = _g.Op("Sub", $"{basename}/Sub", [evenCos, oddSin]);
        string odd = _g.Op("Add", $"{basename}/Add", [evenSin, oddCos]);
        string joined = _g.Op("Concat", $"{basename}/Concat", [even, odd], Attr("axis", -1L));
        return _g.Op("Reshape", $"{basename}/Reshape_1", [joined, _g.Int64s(0, 0, heads, _c.HeadSize)]);
    }

    private string Attention(int layer, string input, string mask, string cos, string sin)
    {
        string b = $"/model/layers.{layer}/self_attn", w = $"model.layers.{layer}.self_attn";
        int h = _c.Heads, kv = _c.KvHeads, hs = _c.HeadSize;
        string q = Projection($"{b}/q_proj", $"{w}.q_proj", input, LlamaTensor.Query, layer);
        string k = Projection($"{b}/k_proj", $"{w}.k_proj", input, LlamaTensor.Key, layer);
        string v = Projection($"{b}/v_proj", $"{w}.v_proj", input, LlamaTensor.Value, layer);
        long[] toHeads = [0, 2, 1, 3];
        string qHeads = _g.Op("Transpose", $"{b}/Transpose", [Rotary($"{b}/q_rotary", q, h, cos, sin)], Attr("perm", toHeads));
        string kHeads = _g.Op("Transpose", $"{b}/Transpose_1", [Rotary($"{b}/k_rotary", k, kv, cos, sin)], Attr("perm", toHeads));
        string vShaped = _g.Op("Reshape", $"{b}/Reshape", [v, _g.Int64s(0, 0, kv, hs)]);
        string vHeads = _g.Op("Transpose", $"{b}/Transpose_2", [vShaped], Attr("perm", toHeads));
        string presentKey = $"present.{layer}.key", presentValue = $"present.{layer}.value";
        _g.NodeWithOutputs("Concat", $"{b}/Concat", [$"past_key_values.{layer}.key", kHeads], [presentKey], "", Attr("axis", 2L));
        _g.NodeWithOutputs("Concat", $"{b}/Concat_1", [$"past_key_values.{layer}.value", vHeads], [presentValue], "", Attr("axis", 2L));

        // Grouped-query attention without copying K/V: the query heads sharing KV head g are adjacent (head h uses
        // KV head h / groupSize), so [B, H, S, hs] viewed as [B, KV, groupSize*S, hs] lines each group up with its KV head.
        string qGroups = _g.Op("Reshape", $"{b}/Reshape_1", [qHeads, _g.Int64s(0, kv, -1, hs)]);
        string keyT = _g.Op("Transpose", $"{b}/Transpose_3", [presentKey], Attr("perm", new long[] { 0, 1, 3, 2 }));
        string scores = _g.Op("MatMul", $"{b}/MatMul", [qGroups, keyT]);
        string scaled = _g.Op("Mul", $"{b}/Mul", [scores, _g.Float(1f / MathF.Sqrt(hs), Fp16)]);
        string perHead = _g.Op("Reshape", $"{b}/Reshape_2", [scaled, _g.Int64s(0, h, -1, 0)]);
        string masked = _g.Op("Add", $"{b}/Add", [perHead, mask]);
        string probabilities = _g.Op("Softmax", $"{b}/Softmax", [masked], Attr("axis", -1L));
        string probGroups = _g.Op("Reshape", $"{b}/Reshape_3", [probabilities, _g.Int64s(0, kv, -1, 0)]);
        string context = _g.Op("MatMul", $"{b}/MatMul_1", [probGroups, presentValue]);
        string contextHeads = _g.Op("Reshape", $"{b}/Reshape_4", [context, _g.Int64s(0, h, -1, hs)]);
        string contextTokens = _g.Op("Transpose", $"{b}/Transpose_4", [contextHeads], Attr("perm", toHeads));
        string merged = _g.Op("Reshape", $"{b}/Reshape_5", [contextTokens, _g.Int64s(0, 0, h * hs)]);
        return Projection($"{b}/o_proj", $"{w}.o_proj", merged, LlamaTensor.Output, layer);
    }

    private string Mlp(int layer, string input)
    {
        string b = $"/model/layers.{layer}/mlp", w = $"model.layers.{layer}.mlp";
        string gate = Projection($"{b}/gate_proj", $"{w}.gate_proj", input, LlamaTensor.Gate, layer);
        string up = Projection($"{b}/up_proj", $"{w}.up_proj", input, LlamaTensor.Up, layer);
        string sigmoid = _g.Op("Sigmoid", $"{b}/act_fn/Sigmoid", [gate]);
        string silu = _g.Op("Mul", $"{b}/act_fn/Mul", [gate, sigmoid]);
        string product = _g.Op("Mul", $"{b}/Mul", [silu, up]);
        return Projection($"{b}/down_proj", $"{w}.down_proj", product, LlamaTensor.Down, layer);
    }

    /// <summary>input @ W with MatMul; for int4, W comes from a blocked DequantizeLinear of the packed weight.</summary>
    private string Projection(string basename, string initializerBase, string input, LlamaTensor tensor, int layer, string? outputName = null)
    {
        string weight;
        if (dtype == ExportDType.Int4)
        {
            var (data, scales) = WeightEncoder.BlockedInt4(sink, $"{initializerBase}.weight_quantized", $"{initializerBase}.weight_scale", weights, tensor, layer);
            _g.Graph.Initializer.Add(data);
            _g.Graph.Initializer.Add(scales);
            weight = _g.Op("DequantizeLinear", $"{basename}/DequantizeLinear", [data.Name, scales.Name],
                Attr("axis", 0L), Attr("block_size", (long)WeightEncoder.BlockSize));
        }
        else
        {
            weight = $"{initializerBase}.weight";
            _g.Graph.Initializer.Add(WeightEncoder.Float(sink, weight, weights, tensor, layer, Fp16));
        }
        string name = $"{basename}/MatMul";
        string output = outputName ?? _g.OutputName(name, 0);
        _g.NodeWithOutputs("MatMul", name, [input, weight], [output]);
        return output;
    }
}
