using OnnxSteer.ModelFiles;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// Every structure of <see cref="ExportStructures"/> end to end (<see cref="ConformanceChecks"/>): sites, recording
/// against a plain run, each patch mode against the multiplication by hand, unpatch byte for byte, and greedy
/// generation of the steered folder in OnnxSteer's loop against onnxruntime-genai where the folder has a genai_config.
/// </summary>
public class ExportConformanceTests
{
    public static TheoryData<string> Structures() => new(ExportStructures.Names);

    public static TheoryData<string, string> StructuresAndModes()
    {
        var data = new TheoryData<string, string>();
        foreach (var name in ExportStructures.Names)
            foreach (var mode in ConformanceChecks.Modes) data.Add(name, mode);
        return data;
    }

    [SharedTheory]
    [MemberData(nameof(Structures))]
    public void Recording_through_the_structure_equals_a_plain_run_that_exposes_each_value(string structure) =>
        ConformanceChecks.RecordingEqualsAPlainRun(ExportStructures.Get(structure).ModelFile);

    [SharedTheory]
    [MemberData(nameof(StructuresAndModes))]
    public void Steering_is_the_multiplication_by_hand_and_unpatch_restores_the_file(string structure, string mode)
    {
        using var tmp = new TempDir();
        ConformanceChecks.SteeringIsTheMultiplicationByHand(ExportStructures.Get(structure), mode, tmp.Path);
    }

    [SharedTheory]
    [MemberData(nameof(Structures))]
    public void The_steered_folder_generates_in_our_loop_what_onnxruntime_genai_generates(string name)
    {
        var structure = ExportStructures.Get(name);
        using var tmp = new TempDir();
        var (outcome, _) = ConformanceChecks.Patch(structure.ModelFile, "mul", tmp.Path);
        var steered = outcome.Written.ModelFile;
        var ours = Runs.Greedy(steered, tokens: 10);
        Assert.NotEmpty(ours);
        if (!structure.Genai) return;
        Assert.Equal(ConformanceChecks.GenaiGreedy(Path.GetDirectoryName(steered)!, tokens: 10), ours);
        Assert.Equal(ConformanceChecks.GenaiGreedy(Path.GetDirectoryName(structure.ModelFile)!, tokens: 10), Runs.Greedy(structure.ModelFile, tokens: 10));
    }

    /// <summary>Each built structure has its exporter's distinguishing ops and attributes (so a builder that silently did
    /// nothing cannot pass the runs above).</summary>
    [SharedFact]
    public void Each_structure_carries_its_exporters_marks()
    {
        Onnx.GraphProto Graph(string name) => OnnxModel.Load(ExportStructures.Get(name).ModelFile).Graph;
        static long Attr(Onnx.NodeProto n, string a) => n.Attribute.Single(x => x.Name == a).I;
        var int4 = Graph("genai-int4").Node.Where(n => n.OpType == "MatMulNBits").ToList();
        Assert.Equal(15, int4.Count); // 7 projections × 2 layers + lm_head
        Assert.All(int4, n => Assert.True(Attr(n, "bits") == 4 && Attr(n, "accuracy_level") == 4 && n.Input.Count == 3 && n.Name.EndsWith("_Q4")));
        var kq = Graph("genai-k-quant-mixed").Node.Where(n => n.OpType == "MatMulNBits").ToList();
        Assert.Equal(["/lm_head/MatMul_Q8", "/model/layers.0/mlp/down_proj/MatMul_Q8", "/model/layers.3/mlp/down_proj/MatMul_Q8", "/model/layers.6/mlp/down_proj/MatMul_Q8", "/model/layers.7/mlp/down_proj/MatMul_Q8"],
            kq.Where(n => Attr(n, "bits") == 8 && !n.Name.Contains("v_proj")).Select(n => n.Name).Order(StringComparer.Ordinal));
        Assert.All(kq, n => Assert.Equal(4, n.Input.Count));
        var phi = Graph("genai-phi3.5-longrope");
        Assert.Single(phi.Node, n => n.OpType == "If" && n.Name == "/model/rotemb_caches_subgraph/If");
        Assert.Equal(2, phi.Node.Count(n => n.Name.EndsWith("/attn/qkv_proj/MatMul")));
        Assert.DoesNotContain(phi.Node, n => n.Name.Contains("q_proj"));
        var gemma = Graph("genai-gemma2");
        Assert.Equal(2, gemma.Node.Count(n => n.OpType == "FastGelu"));
        Assert.Equal(2, gemma.Node.Count(n => n.Name.EndsWith("post_feedforward_layernorm/LayerNorm")));
        Assert.Contains(gemma.Node, n => n.Name == "/lm_head/softcap/Tanh");
        Assert.All(Graph("genai-mistral").Node.Where(n => n.OpType == "GroupQueryAttention"), n => Assert.Equal(6, Attr(n, "local_window_size")));
        Assert.Equal(["model.onnx_data"], OnnxModel.Load(ExportStructures.Get("optimum-onnx_data").ModelFile).DataFileLocations());
        Assert.Empty(OnnxModel.Load(ExportStructures.Get("optimum-inline").ModelFile).DataFileLocations());
        Assert.Equal(8, Graph("optimum-gpt2").Node.Count(n => n.OpType == "Gemm" && n.Name.StartsWith("/transformer/h.")));
        Assert.Equal(2, Graph("optimum-gpt-neox").Node.Count(n => n.OpType == "Erf"));
        Assert.Contains(Graph("optimum-gpt-neox").Node, n => n.Name == "/gpt_neox/layers.1/mlp/dense_4h_to_h/MatMul");
        Assert.Equal(4, Graph("genai-qwen3-qk-norm").Node.Count(n => n.Name.EndsWith("_norm/SimplifiedLayerNormalization")));
        var gemma3 = Graph("genai-gemma3-qk-norm");
        Assert.Equal(4, gemma3.Node.Count(n => n.Name.EndsWith("_norm/SimplifiedLayerNormalization")));
        Assert.Equal(2, gemma3.Node.Count(n => n.OpType == "FastGelu"));
        var q4f16 = Graph("transformers.js-q4f16");
        Assert.All(q4f16.Node.Where(n => n.OpType == "MatMulNBits"), n =>
            Assert.Equal((int)Onnx.TensorProto.Types.DataType.Float16, q4f16.Initializer.Single(t => t.Name == n.Input[2]).DataType));
        Assert.All(q4f16.Input.Where(i => i.Name.StartsWith("past_key_values")), i => Assert.Equal((int)Onnx.TensorProto.Types.DataType.Float, i.Type.TensorType.ElemType));
    }
}
