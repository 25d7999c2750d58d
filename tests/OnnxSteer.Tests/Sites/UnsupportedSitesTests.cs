using Google.Protobuf;
using Onnx;
using OnnxSteer.Import;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.Sites;

/// <summary>
/// Int4 fused gate_up folding (through ONNX Runtime), packed-qkv GroupQueryAttention, and the places that look like
/// sites but cannot be steered (Gemm with transA=1, If/Loop/Scan bodies), which the report must name with a reason.
/// </summary>
public class UnsupportedSitesTests
{
    private const int F32 = (int)TensorProto.Types.DataType.Float;
    private const int K = 32, I = 32, N = 8, Block = 16, Tokens = 4;
    private static readonly SteeringProvenance Prov = new("austeer", 3, 1, null);

    /// <summary>
    /// x [1, T, 32] → int4 MatMulNBits gate_up (N = 2I = 64, block 16, fp32 scales) → Split or two Slices →
    /// up · (gate · Sigmoid(gate)) → int4 MatMulNBits down_proj (K = 32, N = 8) → logits.
    /// </summary>
    private static ModelProto NBitsFusedMlp(FusedCut cut, bool exposeGateUp = false)
    {
        var b = new GraphBuilder();
        var rng = new Random(21);
        b.Input("x", TensorProto.Types.DataType.Float, 1, "sequence", K);
        string NBits(string name, string input, int k, int n)
        {
            var blocks = k / Block;
            var packed = new byte[n * blocks * (Block / 2)];
            rng.NextBytes(packed);
            var q = GraphBuilder.Tensor(TensorProto.Types.DataType.Uint8, [n, blocks, Block / 2], packed);
            q.Name = $"{name}.qweight";
            var scales = Enumerable.Range(0, n * blocks).Select(_ => (float)(0.02 + rng.NextDouble() * 0.05)).ToArray();
            var s = GraphBuilder.Tensor(TensorProto.Types.DataType.Float, [n, blocks], ElementEncoding.Encode(scales, F32));
            s.Name = $"{name}.scales";
            b.Graph.Initializer.Add(q);
            b.Graph.Initializer.Add(s);
            return b.Node("MatMulNBits", $"{name}/MatMulNBits", [input, q.Name, s.Name], 1, "com.microsoft",
                GraphBuilder.Attr("K", (long)k), GraphBuilder.Attr("N", (long)n), GraphBuilder.Attr("bits", 4L), GraphBuilder.Attr("block_size", (long)Block))[0];
        }
        const string p = "/model/layers.0/mlp";
        var gateUp = NBits($"{p}/gate_up_proj", "x", K, 2 * I);
        string gate, up;
        if (cut == FusedCut.Split)
        {
            var parts = b.Node("Split", $"{p}/Split", [gateUp, b.Int64s(I, I)], 2, "", GraphBuilder.Attr("axis", -1L));
            (gate, up) = (parts[0], parts[1]);
        }
        else (gate, up) = (Phi3Graphs.Slice(b, $"{p}/Slice", gateUp, 0, I), Phi3Graphs.Slice(b, $"{p}/Slice_1", gateUp, I, 2 * I));
        var act = b.Op("Mul", $"{p}/act_fn/Mul", [gate, b.Op("Sigmoid", $"{p}/act_fn/Sigmoid", [gate])]);
        var m = b.Op("Mul", $"{p}/Mul", [up, act]);
        var down = NBits($"{p}/down_proj", m, I, N);
        b.NodeWithOutputs("Identity", "/model/output/Identity", [down], ["logits"]);
        b.Output("logits", TensorProto.Types.DataType.Float, 1, "sequence", N);
        if (exposeGateUp) b.Output(gateUp, TensorProto.Types.DataType.Float, 1, "sequence", 2 * I);
        return Phi3Graphs.Model(b.Graph);
    }

    private static Dictionary<string, float[]> RunNBits(ModelProto model, int seed, params string[] wanted)
    {
        using var x = OrtHarness.Tensor(OrtHarness.Random(Tokens * K, seed), [1, Tokens, K], F32);
        return OrtHarness.Run(model, null, new Dictionary<string, OrtValue> { ["x"] = x }, wanted, F32);
    }

    [Theory]
    [InlineData(FusedCut.Split)]
    [InlineData(FusedCut.Slices)]
    public void Int4_fused_gate_up_folds_into_the_up_half_only(FusedCut cut)
    {
        var model = NBitsFusedMlp(cut);
        var sites = SiteFinder.Find(model.Graph, "nbits.onnx").Sites;
        var site = sites.Single(s => s.Id == "mlp.0");
        Assert.Equal(I, site.Width);
        Assert.Equal("MatMulNBits", site.ProjectionOpType);

        // Powers of two: scaling a block scale by 2^e is exact, so the fold must equal the Mul bit for bit.
        var plan = SteeringPlan.Scale(sites, [(SiteKind.Mlp, 0, 0, 1.0), (SiteKind.Mlp, 0, 9, -0.5), (SiteKind.Mlp, 0, 31, 3.0)], Prov);
        var folded = GraphPatcher.Apply(new OnnxModel(model), plan, new PatchOptions(Fold: true));
        var mul = GraphPatcher.Apply(new OnnxModel(model), plan, PatchOptions.Default).Model.Proto;
        Assert.Equal("fold", folded.Step.Apply);
        Assert.Equal(["/model/layers.0/mlp/gate_up_proj.scales"], folded.FoldedTensors);
        Assert.Contains($"[{I}..{2 * I})", folded.Step.Edits.Single().Note);

        var gateValue = model.Graph.Node.First(n => n.OpType is "Split" or "Slice").Output[0];
        var before = RunNBits(model, 3, "logits", site.ValueName, gateValue);
        var after = RunNBits(folded.Model.Proto, 3, "logits", site.ValueName, gateValue);
        var v = plan.Sites.Single().Vector;
        var expected = before[site.ValueName].Select((x, i) => x * v[i % I]).ToArray();
        // Tolerance 0: m = up·act(gate) and only up's channels were scaled by powers of two.
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), after[site.ValueName].Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(before[gateValue], after[gateValue]);
        Assert.Equal(RunNBits(mul, 3, "logits")["logits"], after["logits"]);
        Assert.NotEqual(before["logits"], after["logits"]);
    }

    [Fact]
    public void Int4_fused_gate_up_with_another_reader_is_not_folded_and_says_why()
    {
        var model = NBitsFusedMlp(FusedCut.Split, exposeGateUp: true);
        var sites = SiteFinder.Find(model.Graph, "nbits.onnx").Sites;
        var plan = SteeringPlan.Scale(sites, [(SiteKind.Mlp, 0, 4, 1.0)], Prov);
        var result = GraphPatcher.Apply(new OnnxModel(model), plan, new PatchOptions(Fold: true));
        Assert.Equal("mul", result.Step.Apply);
        Assert.Contains(result.Notes, n => n.Contains("mlp.0: not folded") && n.Contains("readers other than its Split/Slice"));
        Assert.Empty(result.FoldedTensors);
    }

    [Fact]
    public void Packed_qkv_GroupQueryAttention_and_int4_fused_gate_up_give_all_sites()
    {
        // The onnxruntime-genai builder's packed layout: one qkv MatMulNBits feeds GroupQueryAttention's query input.
        var g = new TestGraph();
        const int hidden = 64, inter = 96, blk = 32;
        var x = g.Input("inputs_embeds", TestGraph.Float16, hidden);
        string NBits(string name, string input, long k, long n)
        {
            var w = g.Weight($"{name}.weight_Q4", TestGraph.UInt8, n, k / blk, blk / 2);
            var s = g.Weight($"{name}.weight_scales", TestGraph.Float16, n * (k / blk));
            return g.Node("MatMulNBits", $"{name}/MatMulNBits", [input, w, s], domain: "com.microsoft",
                attributes: [TestGraph.Int("K", k), TestGraph.Int("N", n), TestGraph.Int("bits", 4), TestGraph.Int("block_size", blk)]);
        }
        for (var l = 0; l < 2; l++)
        {
            var p = $"/model/layers.{l}";
            var h = g.Node("SimplifiedLayerNormalization", $"{p}/input_layernorm/LayerNorm", [x, g.Weight($"ln{l}", TestGraph.Float16, hidden)]);
            var qkv = NBits($"{p}/attn/qkv_proj", h, hidden, 2 * hidden);
            var gqa = g.Node("GroupQueryAttention", $"{p}/attn/GroupQueryAttention", [qkv, "", "", $"past.{l}.key", $"past.{l}.value"],
                domain: "com.microsoft", outputs: 3, attributes: [TestGraph.Int("num_heads", 4), TestGraph.Int("kv_num_heads", 2)]);
            x = g.Node("Add", $"{p}/residual/Add", [x, NBits($"{p}/attn/o_proj", gqa, hidden, hidden)]);
            var h2 = g.Node("SimplifiedLayerNormalization", $"{p}/post_attention_layernorm/LayerNorm", [x, g.Weight($"pln{l}", TestGraph.Float16, hidden)]);
            var gateUp = NBits($"{p}/mlp/gate_up_proj", h2, hidden, 2 * inter);
            string Ints(string name, long value)
            {
                var t = GraphBuilder.Tensor(TensorProto.Types.DataType.Int64, [1], BitConverter.GetBytes(value));
                t.Name = $"{name}_{l}";
                g.Graph.Initializer.Add(t);
                return t.Name;
            }
            var gate = g.Node("Slice", $"{p}/mlp/gate/Slice", [gateUp, Ints("zero", 0), Ints("inter", inter), Ints("last_axis", -1)]);
            var up = g.Node("Slice", $"{p}/mlp/up/Slice", [gateUp, Ints("inter_start", inter), Ints("end", long.MaxValue), Ints("last_axis2", -1)]);
            var act = g.Node("Mul", $"{p}/mlp/act_fn/Mul", [gate, g.Node("Sigmoid", $"{p}/mlp/act_fn/Sigmoid", [gate])]);
            x = g.Node("Add", $"{p}/residual_mlp/Add", [x, NBits($"{p}/mlp/down_proj", g.Node("Mul", $"{p}/mlp/Mul", [act, up]), inter, hidden)]);
        }
        g.Output(x, TestGraph.Float16);
        var report = SiteFinder.Find(g.Graph, "genai-phi3.onnx");

        Assert.Equal(["attn.0", "attn.1"], report.OfKind(SiteKind.Attn).Select(s => s.Id));
        Assert.All(report.OfKind(SiteKind.Attn), s => Assert.Contains("GroupQueryAttention", s.Evidence));
        Assert.All(report.OfKind(SiteKind.Attn), s => Assert.EndsWith("/attn/o_proj/MatMulNBits", s.ProjectionNode));
        Assert.Equal(["mlp.0", "mlp.1"], report.OfKind(SiteKind.Mlp).Select(s => s.Id));
        Assert.All(report.OfKind(SiteKind.Mlp), s => Assert.Equal(inter, s.Width));
        Assert.Equal(2, report.OfKind(SiteKind.MlpOut).Count);
    }

    [Fact]
    public void Gemm_with_transA_is_reported_as_unsupported_input_site_but_keeps_its_output_site()
    {
        // 2-D ungated MLP: h [T, 8] → Gemm fc1 → Relu → Transpose → Gemm(transA=1) down: its input is [I, T].
        var g = new TestGraph();
        var h = g.Input("h", TestGraph.Float);
        var fc1 = g.Node("Gemm", "/mlp/fc1/Gemm", [h, g.Weight("fc1.w", TestGraph.Float, 8, 20)]);
        var act = g.Node("Relu", "/mlp/act/Relu", [fc1]);
        var t = g.Node("Transpose", "/mlp/Transpose", [act], attributes: TestGraph.Ints("perm", 1, 0));
        g.Node("Gemm", "/mlp/fc2/Gemm", [t, g.Weight("fc2.w", TestGraph.Float, 20, 8)], attributes: TestGraph.Int("transA", 1));
        g.Output(g.Graph.Node[^1].Output[0], TestGraph.Float);

        var report = SiteFinder.Find(g.Graph, "transA.onnx");
        Assert.Null(report.Find(SiteKind.Mlp, 0));
        var mlpOut = report.Find(SiteKind.MlpOut, 0)!;
        Assert.Equal(8, mlpOut.Width);
        Assert.Equal("/mlp/fc2/Gemm", mlpOut.ProjectionNode);
        var u = Assert.Single(report.Unsupported);
        Assert.Equal(("mlp.0", SiteKind.Mlp, "/mlp/fc2/Gemm", "main"), (u.Id, u.Kind, u.ProjectionNode, u.Location));
        Assert.Contains("transA=1", u.Reason);
        Assert.Contains(report.Warnings, w => w.ToString().StartsWith("mlp.0 in main: '/mlp/fc2/Gemm' (Gemm) has the structure of a mlp site") && w.ToString().Contains("axis 0"));
    }

    [Fact]
    public void Gemm_with_transB_reads_its_widths_from_the_transposed_weight()
    {
        var g = new TestGraph();
        var h = g.Input("h", TestGraph.Float);
        var fc1 = g.Node("Gemm", "/mlp/fc1/Gemm", [h, g.Weight("fc1.w", TestGraph.Float, 20, 8)], attributes: TestGraph.Int("transB", 1));
        var act = g.Node("Gelu", "/mlp/act/Gelu", [fc1]);
        g.Node("Gemm", "/mlp/fc2/Gemm", [act, g.Weight("fc2.w", TestGraph.Float, 6, 20)], attributes: TestGraph.Int("transB", 1));
        g.Output(g.Graph.Node[^1].Output[0], TestGraph.Float);
        var report = SiteFinder.Find(g.Graph, "transB.onnx");
        Assert.Equal(20, report.Find(SiteKind.Mlp, 0)!.Width);
        Assert.Equal(6, report.Find(SiteKind.MlpOut, 0)!.Width);
        Assert.Empty(report.Unsupported);
    }

    /// <summary>The decoder moved into an If's then_branch, its weights left in the main graph (outer scope).</summary>
    internal static ModelProto DecoderInsideIf(int layers = 2)
    {
        var decoder = SiteGraphs.DecomposedLlama(layers, hidden: 8, heads: 2, intermediate: 12).Graph;
        var main = new GraphProto { Name = "main_graph" };
        main.Input.Add(decoder.Input);
        main.Input.Add(new ValueInfoProto { Name = "use_cache_branch", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Bool } } });
        main.Initializer.Add(decoder.Initializer);
        var then = new GraphProto { Name = "then_branch" };
        then.Node.Add(decoder.Node);
        then.Output.Add(decoder.Output);
        var otherwise = new GraphProto { Name = "else_branch" };
        otherwise.Node.Add(new NodeProto { OpType = "Identity", Name = "else/Identity", Input = { "inputs_embeds" }, Output = { "else_out" } });
        otherwise.Output.Add(new ValueInfoProto { Name = "else_out" });
        var node = new NodeProto { OpType = "If", Name = "/model/If", Input = { "use_cache_branch" }, Output = { "logits" } };
        node.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = then });
        node.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = otherwise });
        main.Node.Add(node);
        main.Output.Add(new ValueInfoProto { Name = "logits" });
        return Phi3Graphs.Model(main);
    }

    [Fact]
    public void Sites_inside_an_If_body_are_reported_as_unsupported_with_the_reason()
    {
        var model = DecoderInsideIf();
        var report = SiteFinder.Scan(model.Graph);

        Assert.Empty(report.Sites);
        Assert.Equal(["attn.0", "attn.1", "mlp-out.0", "mlp-out.1", "mlp.0", "mlp.1"], report.Unsupported.Select(u => u.Id).Order(StringComparer.Ordinal));
        Assert.All(report.Unsupported, u => Assert.Equal("main_graph//model/If.then_branch", u.Location));
        Assert.All(report.Unsupported, u => Assert.Equal(SiteFinder.SubgraphReason, u.Reason));
        Assert.Equal("/model/layers.1/mlp/down_proj/MatMul", report.Unsupported.Single(u => u.Id == "mlp.1").ProjectionNode);
        Assert.Equal(6, report.Warnings.Count(w => w.ToString().Contains("inside an If/Loop/Scan body")));

        var error = Assert.Throws<NoSitesFoundException>(() => SiteFinder.Find(model.Graph, "if.onnx"));
        Assert.Contains($"6 place(s) with the structure of a site not used because {SiteFinder.SubgraphReason}: attn.0 '/model/layers.0/self_attn/o_proj/MatMul' (MatMul) in main_graph//model/If.then_branch", error.Message);
    }

    [Fact]
    public void Main_graph_sites_are_unchanged_when_a_body_also_holds_some()
    {
        // Main graph: the usual decoder; plus an If whose then_branch holds a second copy (renamed values).
        var model = SiteGraphs.DecomposedLlama(layers: 2, hidden: 8, heads: 2, intermediate: 12);
        var plain = SiteFinder.Find(model.Graph, "plain.onnx");
        var copy = SiteGraphs.DecomposedLlama(layers: 1, hidden: 8, heads: 2, intermediate: 12).Graph;
        foreach (var n in copy.Node)
        {
            for (var i = 0; i < n.Input.Count; i++) if (n.Input[i] != "inputs_embeds" && n.Input[i] != "attention_bias") n.Input[i] = "body_" + n.Input[i];
            for (var i = 0; i < n.Output.Count; i++) n.Output[i] = "body_" + n.Output[i];
            n.Name = "body" + n.Name;
        }
        var body = new GraphProto { Name = "then_branch" };
        body.Node.Add(copy.Node);
        foreach (var t in copy.Initializer) { var c = t.Clone(); c.Name = "body_" + c.Name; body.Initializer.Add(c); }
        body.Output.Add(new ValueInfoProto { Name = "body_" + copy.Output[0].Name });
        var node = new NodeProto { OpType = "If", Name = "/extra/If", Input = { "inputs_embeds" }, Output = { "extra" } };
        node.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = body });
        model.Graph.Node.Add(node);

        var report = SiteFinder.Find(model.Graph, "mixed.onnx");
        Assert.Equal(plain.Sites, report.Sites);
        Assert.Equal(3, report.Unsupported.Count);
        Assert.All(report.Unsupported, u => Assert.StartsWith("body/model/layers.0/", u.ProjectionNode));
    }
}
