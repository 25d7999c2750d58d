using Onnx;
using static OnnxSteer.Import.GraphBuilder;

namespace OnnxSteer.Import;

/// <summary>
/// Builds a Llama graph the way onnxruntime-genai's model builder does: SimplifiedLayerNormalization and
/// com.microsoft SkipSimplifiedLayerNormalization, com.microsoft GroupQueryAttention with fused interleaved rotary
/// embedding and past/present KV in BNSH layout, SiLU as Sigmoid*x, MatMulNBits for int4, and the builder's node,
/// initializer and I/O names. Weights stream into the <see cref="WeightSink"/> as the graph is built.
/// <para>
/// ONNX Runtime's CPU GroupQueryAttention needs a head size that is a multiple of 16. For smaller heads (stories260K
/// has 8) the writer does what the builder does where GQA is unavailable: com.microsoft RotaryEmbedding
/// (interleaved) on Q and K with a position_ids input, then com.microsoft MultiHeadAttention with an additive
/// causal+padding mask, the KV heads repeated in the K/V projection weights so the cache holds one head per query head.
/// </para>
/// </summary>
internal sealed class GenaiGraphWriter
{
    private readonly ILlamaWeights weights;
    private readonly WeightSink sink;
    private readonly ExportDType dtype;
    private readonly LlamaConfig _c;
    private readonly bool _groupQuery;

    /// <summary>A writer for <paramref name="weights"/> in <paramref name="dtype"/>, streaming weights to <paramref name="sink"/>.</summary>
    public GenaiGraphWriter(ILlamaWeights weights, WeightSink sink, ExportDType dtype)
    {
        _groupQuery = UsesGroupQueryAttention(weights.Config);
        this.weights = _groupQuery || weights.Config.KvHeads == weights.Config.Heads ? weights : new RepeatedKvWeights(weights);
        this.sink = sink;
        this.dtype = dtype;
        _c = this.weights.Config;
    }

    /// <summary>Whether the graph uses GroupQueryAttention (head size a multiple of 16) rather than RotaryEmbedding + MultiHeadAttention.</summary>
    public static bool UsesGroupQueryAttention(LlamaConfig config) => config.HeadSize % 16 == 0;

    /// <summary>The shape the graph's KV cache and genai_config.json describe (KV heads repeated without GQA).</summary>
    public static LlamaConfig GraphConfig(LlamaConfig config) =>
        UsesGroupQueryAttention(config) ? config : config with { KvHeads = config.Heads };

    private readonly GraphBuilder _g = new("/output_0");
    private bool Fp16 => dtype == ExportDType.Fp16;
    private TensorProto.Types.DataType IoType => Fp16 ? TensorProto.Types.DataType.Float16 : TensorProto.Types.DataType.Float;

    /// <summary>Builds the graph, writing every weight to the sink.</summary>
    public GraphProto Build()
    {
        DeclareInputsAndOutputs();
        var (seqlensK, totalSequenceLength) = _groupQuery ? AttentionMaskSubgraph() : ("", "");
        string attentionBias = _groupQuery ? "" : AdditiveAttentionMask();
        var (cosCache, sinCache) = RotaryCaches();

        var embeddings = Embedding();
        string normed = SimplifiedLayerNorm("/model/layers.0/input_layernorm", embeddings, Weight("model.layers.0.input_layernorm.weight", LlamaTensor.AttentionNorm, 0));
        string residual = embeddings;
        for (int layer = 0; layer < _c.Layers; layer++)
        {
            string attention = _groupQuery
                ? Attention(layer, normed, seqlensK, totalSequenceLength, cosCache, sinCache)
                : MultiHeadAttention(layer, normed, attentionBias, cosCache, sinCache);
            (normed, residual) = SkipLayerNorm($"/model/layers.{layer}/post_attention_layernorm", residual, attention,
                Weight($"model.layers.{layer}.post_attention_layernorm.weight", LlamaTensor.FeedForwardNorm, layer));
            string mlp = Mlp(layer, normed);
            bool last = layer == _c.Layers - 1;
            string basename = last ? $"/model/layers.{_c.Layers}/final_norm_layernorm" : $"/model/layers.{layer + 1}/input_layernorm";
            string gamma = last
                ? Weight($"model.layers.{_c.Layers}.final_norm_layernorm.weight", LlamaTensor.FinalNorm, 0)
                : Weight($"model.layers.{layer + 1}.input_layernorm.weight", LlamaTensor.AttentionNorm, layer + 1);
            (normed, residual) = SkipLayerNorm(basename, residual, mlp, gamma, withResidualOutput: !last);
        }
        Projection("/lm_head", "lm_head", normed, LlamaTensor.LmHead, 0, outputName: "logits");
        return _g.Graph;
    }

    private void DeclareInputsAndOutputs()
    {
        _g.Input("input_ids", TensorProto.Types.DataType.Int64, "batch_size", "sequence_length");
        _g.Input("attention_mask", TensorProto.Types.DataType.Int64, "batch_size", "total_sequence_length");
        if (!_groupQuery) _g.Input("position_ids", TensorProto.Types.DataType.Int64, "batch_size", "sequence_length");
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

    /// <summary>seqlens_k = sum(attention_mask) - 1 and total_sequence_length = attention_mask.shape[1], both int32, as GQA wants.</summary>
    private (string SeqlensK, string Total) AttentionMaskSubgraph()
    {
        const string b = "/model/attn_mask_reformat/attn_mask_subgraph";
        string sum = _g.Op("ReduceSum", $"{b}/ReduceSum", ["attention_mask", _g.Int64s(1)], Attr("keepdims", 0L));
        string sub = _g.Op("Sub", $"{b}/Sub", [sum, _g.Int64s(1)]);
        string seqlens = _g.Op("Cast", $"{b}/Sub/Cast", [sub], Attr("to", (long)TensorProto.Types.DataType.Int32));
        string shape = _g.Op("Shape", $"{b}/Shape", ["attention_mask"]);
        string gather = _g.Op("Gather", $"{b}/Gather", [shape, _g.Int64(1)], Attr("axis", 0L));
        string total = _g.Op("Cast", $"{b}/Gather/Cast", [gather], Attr("to", (long)TensorProto.Types.DataType.Int32));
        return (seqlens, total);
    }

    /// <summary>
    /// Additive attention bias [batch, 1, seq, total] for MultiHeadAttention: 0 where key j is visible from query i
    /// (j &lt;= past + i and attention_mask[b, j] = 1), the dtype's lowest value elsewhere.
    /// </summary>
    private string AdditiveAttentionMask()
    {
        const string b = "/model/attn_mask_reformat";
        return AttentionMaskGraph.Additive(_g, Fp16, new AttentionMaskNames(
            $"{b}/input_ids_subgraph/Shape", $"{b}/input_ids_subgraph/Gather", $"{b}/attn_mask_subgraph/Shape",
            $"{b}/attn_mask_subgraph/Gather", $"{b}/input_ids_subgraph/Sub", $"{b}/input_ids_subgraph/Range",
            $"{b}/input_ids_subgraph/Range_1", $"{b}/input_ids_subgraph/Unsqueeze", $"{b}/input_ids_subgraph/LessOrEqual",
            $"{b}/attn_mask_subgraph/Cast", $"{b}/attn_mask_subgraph/Unsqueeze", $"{b}/And", $"{b}/Where"));
    }

    private (string Cos, string Sin) RotaryCaches()
    {
        var (cos, sin) = RopeTables.Compute(_c.MaxSequenceLength, _c.HeadSize, _c.RopeTheta);
        long[] dims = [_c.MaxSequenceLength, _c.HeadSize / 2];
        _g.Graph.Initializer.Add(WeightEncoder.Constant(sink, "cos_cache", cos, dims, Fp16));
        _g.Graph.Initializer.Add(WeightEncoder.Constant(sink, "sin_cache", sin, dims, Fp16));
        return ("cos_cache", "sin_cache");
    }

    private string Embedding()
    {
        // The embedding stays in the activation dtype even for int4, as the builder does.
        _g.Graph.Initializer.Add(WeightEncoder.Float(sink, "model.embed_tokens.weight", weights, LlamaTensor.Embedding, 0, Fp16));
        return _g.Op("Gather", "/model/embed_tokens/Gather", ["model.embed_tokens.weight", "input_ids"]);
    }

    private string Weight(string name, LlamaTensor tensor, int layer)
    {
        _g.Graph.Initializer.Add(WeightEncoder.Float(sink, name, weights, tensor, layer, Fp16));
        return name;
    }

    private string SimplifiedLayerNorm(string basename, string input, string gamma)
    {
        string output = $"{basename}/output_0";
        _g.NodeWithOutputs("SimplifiedLayerNormalization", $"{basename}/LayerNorm", [input, gamma], [output], "",
            Attr("epsilon", _c.NormEpsilon), Attr("axis", -1L), Attr("stash_type", 1L));
        return output;
    }

    /// <summary>normed = RMSNorm(residual + skip) * gamma; also returns residual + skip (output 3) for the next block.</summary>
    private (string Normed, string Residual) SkipLayerNorm(string basename, string residual, string skip, string gamma, bool withResidualOutput = true)
    {
        string normed = $"{basename}/output_0", sum = $"{basename}/output_3";
        string[] outputs = withResidualOutput ? [normed, "", "", sum] : [normed];
        _g.NodeWithOutputs("SkipSimplifiedLayerNormalization", $"{basename}/SkipLayerNorm", [residual, skip, gamma], outputs,
            "com.microsoft", Attr("epsilon", _c.NormEpsilon));
        return (normed, sum);
    }

    private string Attention(int layer, string input, string seqlensK, string total, string cos, string sin)
    {
        string b = $"/model/layers.{layer}/attn", w = $"model.layers.{layer}.attn";
        string q = Projection($"{b}/q_proj", $"{w}.q_proj", input, LlamaTensor.Query, layer);
        string k = Projection($"{b}/k_proj", $"{w}.k_proj", input, LlamaTensor.Key, layer);
        string v = Projection($"{b}/v_proj", $"{w}.v_proj", input, LlamaTensor.Value, layer);
        string output = $"{b}/GroupQueryAttention/output_0";
        _g.NodeWithOutputs("GroupQueryAttention", $"{b}/GroupQueryAttention",
            [q, k, v, $"past_key_values.{layer}.key", $"past_key_values.{layer}.value", seqlensK, total, cos, sin],
            [output, $"present.{layer}.key", $"present.{layer}.value"], "com.microsoft",
            Attr("num_heads", (long)_c.Heads), Attr("kv_num_heads", (long)_c.KvHeads),
            Attr("scale", 1f / MathF.Sqrt(_c.HeadSize)), Attr("local_window_size", -1L),
            Attr("do_rotary", 1L), Attr("rotary_interleaved", 1L), Attr("softcap", 0f));
        return Projection($"{b}/o_proj", $"{w}.o_proj", output, LlamaTensor.Output, layer);
    }

    /// <summary>RotaryEmbedding (interleaved) on Q and K, then MultiHeadAttention with the KV cache and the additive mask.</summary>
    private string MultiHeadAttention(int layer, string input, string attentionBias, string cos, string sin)
    {
        string b = $"/model/layers.{layer}/attn", w = $"model.layers.{layer}.attn";
        string q = Projection($"{b}/q_proj", $"{w}.q_proj", input, LlamaTensor.Query, layer);
        string k = Projection($"{b}/k_proj", $"{w}.k_proj", input, LlamaTensor.Key, layer);
        string v = Projection($"{b}/v_proj", $"{w}.v_proj", input, LlamaTensor.Value, layer);
        AttributeProto[] rotary = [Attr("interleaved", 1L), Attr("num_heads", 0L), Attr("rotary_embedding_dim", 0L)];
        string qRotated = _g.Node("RotaryEmbedding", $"{b}/q_rotary/RotaryEmbedding", [q, "position_ids", cos, sin], 1, "com.microsoft", rotary)[0];
        string kRotated = _g.Node("RotaryEmbedding", $"{b}/k_rotary/RotaryEmbedding", [k, "position_ids", cos, sin], 1, "com.microsoft", rotary)[0];
        string output = $"{b}/MultiHeadAttention/output_0";
        _g.NodeWithOutputs("MultiHeadAttention", $"{b}/MultiHeadAttention",
            [qRotated, kRotated, v, "", "", attentionBias, $"past_key_values.{layer}.key", $"past_key_values.{layer}.value"],
            [output, $"present.{layer}.key", $"present.{layer}.value"], "com.microsoft",
            Attr("num_heads", (long)_c.Heads), Attr("scale", 1f / MathF.Sqrt(_c.HeadSize)));
        return Projection($"{b}/o_proj", $"{w}.o_proj", output, LlamaTensor.Output, layer);
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

    /// <summary>input @ W as MatMul (fp32/fp16) or com.microsoft MatMulNBits (int4), named as the builder names them.</summary>
    private string Projection(string basename, string initializerBase, string input, LlamaTensor tensor, int layer, string? outputName = null)
    {
        var (k, n) = LlamaTensorShapes.Of(tensor, _c);
        string name, output;
        if (dtype == ExportDType.Int4)
        {
            name = $"{basename}/MatMulNBits";
            var (bq, scales) = WeightEncoder.MatMulNBits(sink, $"{initializerBase}.MatMulNBits.qweight", $"{initializerBase}.MatMulNBits.scales", weights, tensor, layer);
            _g.Graph.Initializer.Add(bq);
            _g.Graph.Initializer.Add(scales);
            output = outputName ?? _g.OutputName(name, 0);
            _g.NodeWithOutputs("MatMulNBits", name, [input, bq.Name, scales.Name], [output], "com.microsoft",
                Attr("K", (long)k), Attr("N", (long)n), Attr("bits", 4L), Attr("block_size", (long)WeightEncoder.BlockSize));
        }
        else
        {
            name = $"{basename}/MatMul";
            string weight = Weight($"{initializerBase}.MatMul.weight", tensor, layer);
            output = outputName ?? _g.OutputName(name, 0);
            _g.NodeWithOutputs("MatMul", name, [input, weight], [output]);
        }
        return output;
    }
}
