using Onnx;
using OnnxSteer.Import;
using OnnxSteer.ModelFiles;
using static OnnxSteer.Tests.Conformance.ExportEdits;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// The onnxruntime-genai model builder's per-architecture differences (src/python/py/models/builder.py and
/// builders/), applied to a Llama graph our importer writes the way the builder writes one (GroupQueryAttention,
/// SkipSimplifiedLayerNormalization, the builder's names): each returns a self-contained copy (weights embedded).
/// </summary>
internal static class GenaiBuilderVariants
{
    private const int F32 = (int)TensorProto.Types.DataType.Float;

    /// <summary>
    /// Phi-3.5 (Phi3Model, longrope): q, k and v packed into one <c>attn/qkv_proj/MatMul</c> whose output is
    /// GroupQueryAttention's packed first input (key and value inputs empty); the rotary caches chosen at run time by
    /// <c>make_rotary_embedding_multi_cache</c>'s subgraph: attention_mask → Shape → Gather(1) → Greater(original
    /// context length) → If '/model/rotemb_caches_subgraph/If' whose branches ("large_rotemb_caches_graph",
    /// "small_rotemb_caches_graph") hold the long-factor and short-factor caches in Constant nodes and output
    /// cos_cache / sin_cache.
    /// </summary>
    public static ModelProto Phi3Longrope(OnnxModel model, int originalContext)
    {
        var proto = model.Proto.Clone();
        var g = proto.Graph;
        EmbedExternalData(g, model);
        foreach (var attention in g.Node.Where(n => n.OpType == "GroupQueryAttention").ToList())
        {
            var basename = attention.Name[..attention.Name.LastIndexOf('/')];
            var parts = new[] { "q_proj", "k_proj", "v_proj" }.Select(p => Named(g, $"{basename}/{p}/MatMul")).ToList();
            var weights = parts.Select(p => g.Initializer.Single(t => t.Name == p.Input[1])).ToList();
            var k = (int)weights[0].Dims[0];
            var widths = weights.Select(w => (int)w.Dims[1]).ToArray();
            var values = weights.Select(w => Values(g, w.Name)).ToArray();
            var packed = new float[k * widths.Sum()];
            for (int r = 0, o = 0; r < k; r++)
                for (var p = 0; p < 3; p++)
                    for (var c = 0; c < widths[p]; c++) packed[o++] = values[p][r * widths[p] + c];
            var weightName = weights[0].Name.Replace("q_proj", "qkv_proj");
            g.Initializer.Add(Tensor(weightName, weights[0].DataType, packed, k, widths.Sum()));
            var qkv = Node("MatMul", $"{basename}/qkv_proj/MatMul", [parts[0].Input[0], weightName], [$"{basename}/qkv_proj/MatMul/output_0"]);
            g.Node.Insert(g.Node.IndexOf(parts[0]), qkv);
            foreach (var p in parts) g.Node.Remove(p);
            foreach (var w in weights) g.Initializer.Remove(w);
            attention.Input[0] = qkv.Output[0];
            attention.Input[1] = attention.Input[2] = "";
        }

        // Short factors: the caches the graph has; long factors: a longer wavelength, scaled by the long mscale.
        var cos = g.Initializer.Single(t => t.Name == "cos_cache");
        var sin = g.Initializer.Single(t => t.Name == "sin_cache");
        var (positions, half) = ((int)cos.Dims[0], (int)cos.Dims[1]);
        var (longCos, longSin) = RopeTables.Compute(positions, 2 * half, 40000f);
        const float LongMscale = 1.19f;
        GraphProto Branch(string name, string prefix, string cosName, float[] cosValues, string sinName, float[] sinValues)
        {
            var branch = new GraphProto { Name = name };
            foreach (var (value, values) in new[] { (cosName, cosValues), (sinName, sinValues) })
            {
                var constant = Node("Constant", $"/{prefix}/{value.Split('_')[0]}_cache/Constant", [], [value]);
                constant.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = Tensor(value, cos.DataType, values, positions, half) });
                branch.Node.Add(constant);
                branch.Output.Add(new ValueInfoProto { Name = value, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = cos.DataType } } });
            }
            return branch;
        }
        var large = Branch("large_rotemb_caches_graph", "large", "cos_cache_large", longCos.Select(v => v * LongMscale).ToArray(),
            "sin_cache_large", longSin.Select(v => v * LongMscale).ToArray());
        var small = Branch("small_rotemb_caches_graph", "small", "cos_cache_small", Values(g, cos.Name), "sin_cache_small", Values(g, sin.Name));
        g.Initializer.Remove(cos);
        g.Initializer.Remove(sin);

        const string Total = "/model/attn_mask_reformat/attn_mask_subgraph/Gather";
        var context = $"/model/constants/TensorProto.INT64/0D/{originalContext}";
        var constant = Node("Constant", $"/model/constant_nodes/TensorProto.INT64/0D/{originalContext}", [], [context]);
        constant.Attribute.Add(new AttributeProto
        {
            Name = "value", Type = AttributeProto.Types.AttributeType.Tensor,
            T = new TensorProto { Name = context, DataType = (int)TensorProto.Types.DataType.Int64, Int64Data = { originalContext } },
        });
        var greater = Node("Greater", "/model/rotemb_caches_subgraph/Greater", [$"{Total}/output_0", context], ["/model/rotemb_caches_subgraph/Greater/output_0"]);
        var select = Node("If", "/model/rotemb_caches_subgraph/If", [greater.Output[0]], ["cos_cache", "sin_cache"]);
        select.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = large });
        select.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = small });
        var at = g.Node.IndexOf(Named(g, Total)) + 1;
        foreach (var node in new[] { constant, greater, select }.Reverse()) g.Node.Insert(at, node);
        return proto;
    }

    /// <summary>
    /// Gemma-2 (Gemma2Model): the embedding scaled by √hidden ('/model/embed_tokens/Mul'); the attention output
    /// normed by post_attention_layernorm before the residual SkipSimplifiedLayerNormalization (pre_feedforward_layernorm);
    /// the down projection's output normed by post_feedforward_layernorm before the next residual; GELU (tanh) as
    /// com.microsoft FastGelu on the gate; GroupQueryAttention with softcap 50 and a sliding window on even layers;
    /// logits soft-capped (Div, Tanh, Mul by 30).
    /// </summary>
    public static ModelProto Gemma2(OnnxModel model, int window)
    {
        var proto = model.Proto.Clone();
        var g = proto.Graph;
        EmbedExternalData(g, model);
        var embedding = g.Initializer.Single(t => t.Name == "model.embed_tokens.weight");
        var hidden = (int)embedding.Dims[1];
        g.Initializer.Add(Tensor("/model/embed_tokens/Mul/scale", embedding.DataType, [MathF.Sqrt(hidden)]));
        Append(g, "/model/embed_tokens/Gather/output_0", Node("Mul", "/model/embed_tokens/Mul", ["/model/embed_tokens/Mul/scale"], []));
        var rng = new Random(5);
        string Norm(string name)
        {
            var gamma = $"{name.Trim('/').Replace('/', '.')}.weight";
            g.Initializer.Add(Tensor(gamma, embedding.DataType, Enumerable.Range(0, hidden).Select(_ => 1 + (float)(rng.NextDouble() - 0.5) * 0.2f).ToArray(), hidden));
            return gamma;
        }
        for (var l = 0; g.Node.Any(n => n.Name == $"/model/layers.{l}/attn/GroupQueryAttention"); l++)
        {
            var p = $"/model/layers.{l}";
            var residual = Named(g, $"{p}/post_attention_layernorm/SkipLayerNorm");
            residual.Name = $"{p}/pre_feedforward_layernorm/SkipLayerNorm";
            g.Initializer.Single(t => t.Name == residual.Input[2]).Name = residual.Input[2] = $"model.layers.{l}.pre_feedforward_layernorm.weight";
            var attention = residual.Input[1];
            Splice(g, residual, attention, Node("SimplifiedLayerNormalization", $"{p}/post_attention_layernorm/LayerNorm",
                [attention, Norm($"{p}/post_attention_layernorm")], [$"{p}/post_attention_layernorm/LayerNorm/output_0"], "", Float("epsilon", 1e-6f), Int("axis", -1)));
            var down = Named(g, $"{p}/mlp/down_proj/MatMul").Output[0];
            var next = g.Node.Single(n => n.OpType == "SkipSimplifiedLayerNormalization" && n.Input.Contains(down));
            Splice(g, next, down, Node("SimplifiedLayerNormalization", $"{p}/post_feedforward_layernorm/LayerNorm",
                [down, Norm($"{p}/post_feedforward_layernorm")], [$"{p}/post_feedforward_layernorm/LayerNorm/output_0"], "", Float("epsilon", 1e-6f), Int("axis", -1)));

            var sigmoid = Named(g, $"{p}/mlp/act_fn/Sigmoid");
            var silu = Named(g, $"{p}/mlp/act_fn/Mul");
            g.Node[g.Node.IndexOf(silu)] = Node("FastGelu", $"{p}/mlp/act_fn/FastGelu", [sigmoid.Input[0]], [silu.Output[0]], "com.microsoft");
            g.Node.Remove(sigmoid);

            var gqa = Named(g, $"{p}/attn/GroupQueryAttention");
            gqa.Attribute.Single(a => a.Name == "softcap").F = 50f;
            gqa.Attribute.Single(a => a.Name == "local_window_size").I = l % 2 == 0 ? window : -1;
        }
        g.Initializer.Add(Tensor("/lm_head/softcap/cap", embedding.DataType, [30f]));
        Append(g, "logits", Node("Div", "/lm_head/softcap/Div", ["/lm_head/softcap/cap"], []));
        Append(g, "logits", Node("Tanh", "/lm_head/softcap/Tanh", [], []));
        Append(g, "logits", Node("Mul", "/lm_head/softcap/Mul", ["/lm_head/softcap/cap"], []));
        return proto;
    }

    /// <summary>Mistral (MistralModel): Llama's graph with GroupQueryAttention's sliding window (local_window_size) on every layer.</summary>
    public static ModelProto Mistral(OnnxModel model, int window)
    {
        var proto = model.Proto.Clone();
        EmbedExternalData(proto.Graph, model);
        foreach (var gqa in proto.Graph.Node.Where(n => n.OpType == "GroupQueryAttention"))
            gqa.Attribute.Single(a => a.Name == "local_window_size").I = window;
        return proto;
    }

    /// <summary>
    /// Qwen3 / Gemma-3 (attention_attrs q_norm, k_norm): q and k each normed per head before GroupQueryAttention —
    /// Reshape to [batch, seq, heads, head size] → SimplifiedLayerNormalization ('/model/layers.N/attn/q_norm/…',
    /// weight [head size]) → Reshape back.
    /// </summary>
    public static ModelProto QkNorm(ModelProto source, int headSize)
    {
        var proto = source.Clone();
        var g = proto.Graph;
        var rng = new Random(8);
        foreach (var attention in g.Node.Where(n => n.OpType == "GroupQueryAttention").ToList())
        {
            var basename = attention.Name[..attention.Name.LastIndexOf('/')];
            var type = g.Initializer.Single(t => t.Name == "model.embed_tokens.weight").DataType;
            foreach (var (input, part) in new[] { (0, "q_norm"), (1, "k_norm") })
            {
                var value = attention.Input[input];
                var b = $"{basename}/{part}";
                var gamma = $"{b.Trim('/').Replace('/', '.')}.weight";
                g.Initializer.Add(Tensor(gamma, type, Enumerable.Range(0, headSize).Select(_ => 1 + (float)(rng.NextDouble() - 0.5) * 0.2f).ToArray(), headSize));
                g.Initializer.Add(new TensorProto { Name = $"{b}/heads", DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 4 }, Int64Data = { 0, 0, -1, headSize } });
                g.Initializer.Add(new TensorProto { Name = $"{b}/flat", DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 3 }, Int64Data = { 0, 0, -1 } });
                var reshape = Node("Reshape", $"{b}/Reshape", [value, $"{b}/heads"], [$"{b}/Reshape/output_0"]);
                var norm = Node("SimplifiedLayerNormalization", $"{b}/SimplifiedLayerNormalization", [reshape.Output[0], gamma],
                    [$"{b}/SimplifiedLayerNormalization/output_0"], "", Float("epsilon", 1e-6f), Int("axis", -1));
                var back = Node("Reshape", $"{b}/Reshape_1", [norm.Output[0], $"{b}/flat"], [$"{b}/Reshape_1/output_0"]);
                attention.Input[input] = back.Output[0];
                var at = g.Node.IndexOf(attention);
                foreach (var n in new[] { back, norm, reshape }) g.Node.Insert(at, n);
            }
        }
        return proto;
    }

    /// <summary>Each layer's dense MLP (its nodes, input and output), read as the caller replaces the layers before it.</summary>
    private static IEnumerable<(int Layer, List<NodeProto> Nodes, string Input, string Output)> DenseMlps(GraphProto g)
    {
        for (var l = 0; g.Node.Any(n => n.Name == $"/model/layers.{l}/mlp/down_proj/MatMul"); l++)
            yield return (l, g.Node.Where(n => n.Name.StartsWith($"/model/layers.{l}/mlp/")).ToList(),
                Named(g, $"/model/layers.{l}/mlp/gate_proj/MatMul").Input[0], Named(g, $"/model/layers.{l}/mlp/down_proj/MatMul").Output[0]);
    }

    /// <summary>
    /// A mixture-of-experts layer as a torch.onnx export of Mixtral's block_sparse_moe writes the dense path: a router
    /// ('/model/layers.N/block_sparse_moe/gate/MatMul' → Softmax → Split), <paramref name="experts"/> experts each with
    /// its own w1 (gate), w3 (up), SiLU and w2 (down) MatMuls, their outputs weighted by the router and summed.
    /// </summary>
    public static ModelProto MixtureOfExperts(OnnxModel model, int experts = 2)
    {
        var proto = model.Proto.Clone();
        var g = proto.Graph;
        EmbedExternalData(g, model);
        var rng = new Random(6);
        foreach (var (l, mlp, input, output) in DenseMlps(g))
        {
            var (p, w) = ($"/model/layers.{l}", $"model.layers.{l}");
            var reader = g.Node.Single(n => n.Input.Contains(output));
            var weights = g.Initializer.Where(t => t.Name.StartsWith($"{w}.mlp.")).ToList();
            string Expert(string name, int e) => name.Replace($"{p}/mlp/", $"{p}/block_sparse_moe/experts.{e}/")
                .Replace($"{w}.mlp.", $"{w}.block_sparse_moe.experts.{e}.").Replace("gate_proj", "w1").Replace("up_proj", "w3").Replace("down_proj", "w2");
            var at = g.Node.IndexOf(mlp[0]);
            foreach (var n in mlp) g.Node.Remove(n);
            foreach (var t in weights) g.Initializer.Remove(t);
            var hidden = (int)weights.Single(t => t.Name.Contains("down_proj")).Dims[1];
            var router = $"{w}.block_sparse_moe.gate.weight";
            g.Initializer.Add(Tensor(router, F32, Enumerable.Range(0, hidden * experts).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray(), hidden, experts));
            var added = new List<NodeProto>
            {
                Node("MatMul", $"{p}/block_sparse_moe/gate/MatMul", [input, router], [$"{p}/block_sparse_moe/gate/MatMul/output_0"]),
                Node("Softmax", $"{p}/block_sparse_moe/Softmax", [$"{p}/block_sparse_moe/gate/MatMul/output_0"], [$"{p}/block_sparse_moe/Softmax/output_0"], "", Int("axis", -1)),
                Node("Split", $"{p}/block_sparse_moe/Split", [$"{p}/block_sparse_moe/Softmax/output_0"],
                    Enumerable.Range(0, experts).Select(e => $"{p}/block_sparse_moe/Split/output_{e}").ToArray(), "", Int("axis", -1), Int("num_outputs", experts)),
            };
            var sum = "";
            for (var e = 0; e < experts; e++)
            {
                foreach (var t in weights)
                {
                    var values = Values(new GraphProto { Initializer = { t } }, t.Name).Select(v => v * (1 + 0.5f * (float)(rng.NextDouble() - 0.5))).ToArray();
                    g.Initializer.Add(Tensor(Expert(t.Name, e), t.DataType, values, t.Dims.ToArray()));
                }
                foreach (var n in mlp)
                {
                    var copy = n.Clone();
                    copy.Name = Expert(n.Name, e);
                    for (var i = 0; i < copy.Input.Count; i++) if (copy.Input[i] != input) copy.Input[i] = Expert(copy.Input[i], e);
                    for (var i = 0; i < copy.Output.Count; i++) copy.Output[i] = Expert(copy.Output[i], e);
                    added.Add(copy);
                }
                var weighted = $"{p}/block_sparse_moe/Mul_{e}/output_0";
                added.Add(Node("Mul", $"{p}/block_sparse_moe/Mul_{e}", [Expert(output, e), $"{p}/block_sparse_moe/Split/output_{e}"], [weighted]));
                if (e == 0) sum = weighted;
                else added.Add(Node("Add", $"{p}/block_sparse_moe/Add_{e}", [sum, weighted], [sum = $"{p}/block_sparse_moe/Add_{e}/output_0"]));
            }
            for (var i = 0; i < reader.Input.Count; i++) if (reader.Input[i] == output) reader.Input[i] = sum;
            for (var i = added.Count - 1; i >= 0; i--) g.Node.Insert(at, added[i]);
        }
        return proto;
    }

    /// <summary>
    /// The decoder of an encoder–decoder (BART/T5/Whisper as Optimum exports decoder_model.onnx): each layer also
    /// attends to an <c>encoder_hidden_states</c> input (cross-attention: q from the layer, k and v from the encoder,
    /// com.microsoft MultiHeadAttention, '/model/layers.N/encoder_attn/out_proj/MatMul') and adds it to its attention output.
    /// </summary>
    public static ModelProto EncoderDecoder(OnnxModel model, int heads)
    {
        var proto = model.Proto.Clone();
        var g = proto.Graph;
        EmbedExternalData(g, model);
        var rng = new Random(4);
        var hidden = (int)g.Initializer.Single(t => t.Name == "model.embed_tokens.weight").Dims[1];
        g.Input.Add(new ValueInfoProto
        {
            Name = "encoder_hidden_states",
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = F32, Shape = new TensorShapeProto { Dim =
            {
                new TensorShapeProto.Types.Dimension { DimParam = "batch_size" }, new TensorShapeProto.Types.Dimension { DimParam = "encoder_sequence_length" },
                new TensorShapeProto.Types.Dimension { DimValue = hidden },
            } } } },
        });
        for (var l = 0; g.Node.Any(n => n.Name == $"/model/layers.{l}/attn/o_proj/MatMul"); l++)
        {
            var (p, w) = ($"/model/layers.{l}/encoder_attn", $"model.layers.{l}.encoder_attn");
            var self = Named(g, $"/model/layers.{l}/attn/o_proj/MatMul");
            var query = Named(g, $"/model/layers.{l}/attn/q_proj/MatMul").Input[0];
            string Projection(string name, string input)
            {
                g.Initializer.Add(Tensor($"{w}.{name}.weight", F32, Enumerable.Range(0, hidden * hidden).Select(_ => (float)(rng.NextDouble() - 0.5) / 4).ToArray(), hidden, hidden));
                return $"{p}/{name}/MatMul/output_0";
            }
            var nodes = new[] { ("q_proj", query), ("k_proj", "encoder_hidden_states"), ("v_proj", "encoder_hidden_states") }
                .Select(x => Node("MatMul", $"{p}/{x.Item1}/MatMul", [x.Item2, $"{w}.{x.Item1}.weight"], [Projection(x.Item1, x.Item2)])).ToList();
            nodes.Add(Node("MultiHeadAttention", $"{p}/MultiHeadAttention", [nodes[0].Output[0], nodes[1].Output[0], nodes[2].Output[0]],
                [$"{p}/MultiHeadAttention/output_0"], "com.microsoft", Int("num_heads", heads)));
            nodes.Add(Node("MatMul", $"{p}/out_proj/MatMul", [$"{p}/MultiHeadAttention/output_0", $"{w}.out_proj.weight"], [Projection("out_proj", "")]));
            var sum = $"{p}/Add/output_0";
            var reader = g.Node.Single(n => n.Input.Contains(self.Output[0]));
            for (var i = 0; i < reader.Input.Count; i++) if (reader.Input[i] == self.Output[0]) reader.Input[i] = sum;
            nodes.Add(Node("Add", $"{p}/Add", [self.Output[0], $"{p}/out_proj/MatMul/output_0"], [sum]));
            var at = g.Node.IndexOf(reader);
            for (var i = nodes.Count - 1; i >= 0; i--) g.Node.Insert(at, nodes[i]);
        }
        return proto;
    }
    /// <summary>
    /// The builder's fused mixture of experts (make_moe_fused, Mixtral / Phi-3.5-MoE / gpt-oss on cpu and cuda): per
    /// layer a router ('/model/layers.N/moe/router/MatMul' → Add → Reshape to [tokens, experts]) and one com.microsoft
    /// <paramref name="op"/> node '/model/layers.N/moe/{op}' holding every expert's fused gate_up (weight1, [experts,
    /// 2·inter, hidden], gate and up rows interleaved: swiglu_fusion 1) and down (weight2, [experts, hidden, inter])
    /// projections, SwiGLU, top-1 routing; its output is the residual's skip input. No down projection is a node of the graph.
    /// </summary>
    public static ModelProto FusedMixtureOfExperts(OnnxModel model, string op = "MoE", int experts = 2)
    {
        var proto = model.Proto.Clone();
        var g = proto.Graph;
        EmbedExternalData(g, model);
        var rng = new Random(9);
        foreach (var (l, mlp, input, output) in DenseMlps(g))
        {
            var (p, w) = ($"/model/layers.{l}/moe", $"model.layers.{l}.moe");
            var weights = new[] { "gate_proj", "down_proj", "up_proj" }.Select(x => g.Initializer.Single(t => t.Name == Named(g, $"/model/layers.{l}/mlp/{x}/MatMul").Input[1])).ToList();
            var (hidden, inter) = ((int)weights[0].Dims[0], (int)weights[0].Dims[1]);
            var at = g.Node.IndexOf(mlp[0]);
            foreach (var n in mlp) g.Node.Remove(n);
            foreach (var t in weights) g.Initializer.Remove(t);
            // Each expert: the dense projections, perturbed, stored [out, in] as the builder writes them; gate and up
            // interleaved row by row into one gate_up_proj (swiglu_fusion 1).
            float[] Expert(TensorProto t, int e)
            {
                var (rows, cols) = ((int)t.Dims[0], (int)t.Dims[1]);
                var values = Values(new GraphProto { Initializer = { t } }, t.Name);
                var transposed = new float[rows * cols];
                for (var r = 0; r < rows; r++)
                    for (var c = 0; c < cols; c++) transposed[c * rows + r] = values[r * cols + c] * (1 + 0.5f * (float)(rng.NextDouble() - 0.5));
                return transposed;
            }
            var gateUp = new List<float>();
            var downs = new List<float>();
            for (var e = 0; e < experts; e++)
            {
                var (gateE, upE) = (Expert(weights[0], e), Expert(weights[2], e));
                for (var r = 0; r < inter; r++)
                {
                    gateUp.AddRange(gateE.AsSpan(r * hidden, hidden).ToArray());
                    gateUp.AddRange(upE.AsSpan(r * hidden, hidden).ToArray());
                }
                downs.AddRange(Expert(weights[1], e));
            }
            var (gate, down) = ($"{w}.experts.gate_up_proj.weight", $"{w}.experts.down_proj.weight");
            g.Initializer.Add(Tensor(gate, F32, gateUp.ToArray(), experts, 2 * inter, hidden));
            g.Initializer.Add(Tensor(down, F32, downs.ToArray(), experts, hidden, inter));
            g.Initializer.Add(Tensor($"{w}.router.weight", F32, Enumerable.Range(0, hidden * experts).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray(), hidden, experts));
            g.Initializer.Add(Tensor($"{w}.router.bias", F32, new float[experts], experts));
            g.Initializer.Add(new TensorProto { Name = $"{p}/router/shape", DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 2 }, Int64Data = { -1, experts } });
            var nodes = new[]
            {
                Node("MatMul", $"{p}/router/MatMul", [input, $"{w}.router.weight"], [$"{p}/router/MatMul/output_0"]),
                Node("Add", $"{p}/router/Add", [$"{p}/router/MatMul/output_0", $"{w}.router.bias"], [$"{p}/router/Add/output_0"]),
                Node("Reshape", $"{p}/router/Reshape", [$"{p}/router/Add/output_0", $"{p}/router/shape"], [$"{p}/router/Reshape/output_0"]),
                Node(op, $"{p}/{op}", [input, $"{p}/router/Reshape/output_0", gate, "", down, ""], [$"{p}/{op}/output_0"], "com.microsoft",
                    Float("activation_alpha", 1f), Float("activation_beta", 0f), Str("activation_type", "swiglu"), Int("k", 1),
                    Int("normalize_routing_weights", 0), Int("swiglu_fusion", 1), Int("use_sparse_mixer", 0)),
            };
            foreach (var reader in g.Node)
                for (var i = 0; i < reader.Input.Count; i++) if (reader.Input[i] == output) reader.Input[i] = $"{p}/{op}/output_0";
            for (var i = nodes.Length - 1; i >= 0; i--) g.Node.Insert(at, nodes[i]);
        }
        return proto;
    }
    /// <summary>
    /// The newest builder's windowed KV cache (builders/base.py, cpu/cuda/trt-rtx): every GroupQueryAttention with a
    /// sliding window also gets <c>sliding_window_cache = 1</c> (its past/present buffers are window-sized and indexed
    /// relative to the cache), and the KV inputs and outputs of the local layers get their own sequence dimension
    /// (<c>…sequence…</c> → <c>…sliding…</c>). genai_config.json's decoder.sliding_window is written by the caller.
    /// </summary>
    public static ModelProto SlidingWindowCache(ModelProto source)
    {
        var proto = source.Clone();
        var g = proto.Graph;
        foreach (var gqa in g.Node.Where(n => n.OpType == "GroupQueryAttention" && n.Attribute.Single(a => a.Name == "local_window_size").I > 0))
        {
            gqa.Attribute.Add(Int("sliding_window_cache", 1));
            var kv = new[] { gqa.Input[3], gqa.Input[4], gqa.Output[1], gqa.Output[2] }.ToHashSet();
            foreach (var value in g.Input.Concat(g.Output).Where(v => kv.Contains(v.Name)))
                foreach (var dim in value.Type.TensorType.Shape.Dim.Where(d => d.DimParam.Contains("sequence")))
                    dim.DimParam = dim.DimParam.Replace("sequence", "sliding");
        }
        return proto;
    }
}
