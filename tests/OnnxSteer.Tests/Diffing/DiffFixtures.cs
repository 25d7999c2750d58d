using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Sites;

namespace OnnxSteer.Tests.Diffing;

/// <summary>
/// Builds the diff fixtures committed in graphs/diff/: a two-layer decoder-shaped graph (<c>base</c>) named like an
/// onnxruntime-genai export, and variants of it — steered by the real patcher (inserted nodes, folded weights, additive),
/// hand-edited, reordered, and steered-then-unsteered. Everything is deterministic so the files can be rebuilt
/// byte for byte (set ONNXSTEER_UPDATE_GOLDEN=1 to rewrite them).
/// </summary>
internal static class DiffFixtures
{
    public const int Hidden = 8;
    public const int Intermediate = 12;
    public const int Vocab = 16;
    public const int Layers = 2;
    private const int Float = (int)TensorProto.Types.DataType.Float;

    public static string Folder => Path.Combine(Infrastructure.SharedData.RepoRoot, "graphs", "diff");

    /// <summary>Fixture name → model (B side; every fixture is diffed against <c>base</c>).</summary>
    public static IReadOnlyDictionary<string, ModelProto> All()
    {
        var steered = Steer(new PatchOptions(Fold: false));
        return new Dictionary<string, ModelProto>
        {
            ["base"] = Base(),
            ["reordered"] = Reordered(),
            ["steered"] = steered,
            ["folded"] = Steer(new PatchOptions(Fold: true)),
            ["added"] = AddSteering(),
            ["edited"] = Edited(),
            ["steered-edited"] = SteeredEdited(steered),
            ["unpatched"] = GraphUnpatcher.Remove(new OnnxModel(steered.Clone())).Proto,
        };
    }

    /// <summary>Fixtures written by GraphPatcher (their metadata follows the patcher's record format).</summary>
    public static readonly string[] MadeByThePatcher = ["steered", "folded", "added", "steered-edited"];

    /// <summary>The diffed variants (every fixture but base).</summary>
    public static IEnumerable<object[]> Variants() => All().Keys.Where(k => k != "base").Select(k => new object[] { k });

    public static ModelProto Base()
    {
        var rng = new Lcg(20261122);
        var g = new GraphProto { Name = "tiny-decoder" };
        g.Input.Add(Value("input", [1, "sequence", Hidden]));
        var x = "input";
        for (var l = 0; l < Layers; l++)
        {
            var p = $"/model/layers.{l}";
            Projection(g, rng, $"{p}/attn/o_proj/MatMul", x, $"model.layers.{l}.attn.o_proj.weight", Hidden, Hidden);
            Add(g, $"{p}/residual/Add", "Add", [x, $"{p}/attn/o_proj/MatMul/output_0"]);
            Projection(g, rng, $"{p}/mlp/up_proj/MatMul", $"{p}/residual/Add/output_0", $"model.layers.{l}.mlp.up_proj.weight", Hidden, Intermediate);
            Add(g, $"{p}/mlp/act_fn/Sigmoid", "Sigmoid", [$"{p}/mlp/up_proj/MatMul/output_0"]);
            Add(g, $"{p}/mlp/Mul", "Mul", [$"{p}/mlp/up_proj/MatMul/output_0", $"{p}/mlp/act_fn/Sigmoid/output_0"]);
            Projection(g, rng, $"{p}/mlp/down_proj/MatMul", $"{p}/mlp/Mul/output_0", $"model.layers.{l}.mlp.down_proj.weight", Intermediate, Hidden);
            Add(g, $"{p}/residual2/Add", "Add", [$"{p}/residual/Add/output_0", $"{p}/mlp/down_proj/MatMul/output_0"]);
            x = $"{p}/residual2/Add/output_0";
        }
        Projection(g, rng, "/lm_head/MatMul", x, "lm_head.weight", Hidden, Vocab, output: "logits");
        var softmax = Add(g, "/probs/Softmax", "Softmax", ["logits"], output: "probs");
        softmax.Attribute.Add(new AttributeProto { Name = "axis", I = -1, Type = AttributeProto.Types.AttributeType.Int });
        g.Output.Add(Value("logits", [1, "sequence", Vocab]));
        g.Output.Add(Value("probs", [1, "sequence", Vocab]));

        var model = new ModelProto { IrVersion = 8, ProducerName = "onnxsteer-tests", ProducerVersion = "1", Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "source", Value = "graphs/diff fixture" });
        return model;
    }

    /// <summary>The sites of the base graph, as the site finder reports them.</summary>
    public static IReadOnlyList<SteeringSite> Sites() => Enumerable.Range(0, Layers).SelectMany(l => new[]
    {
        new SteeringSite(SiteKind.Attn, l, Hidden, Float, $"/model/layers.{l}/attn/o_proj/MatMul", "MatMul", l == 0 ? "input" : $"/model/layers.{l - 1}/residual2/Add/output_0"),
        new SteeringSite(SiteKind.Mlp, l, Intermediate, Float, $"/model/layers.{l}/mlp/down_proj/MatMul", "MatMul", $"/model/layers.{l}/mlp/Mul/output_0"),
        new SteeringSite(SiteKind.MlpOut, l, Hidden, Float, $"/model/layers.{l}/mlp/down_proj/MatMul", "MatMul", $"/model/layers.{l}/mlp/down_proj/MatMul/output_0"),
    }).ToList();

    /// <summary>The units every steered fixture steers: (kind, layer, index, gamma).</summary>
    public static readonly (SiteKind Kind, int Layer, int Index, double Gamma)[] SteeredUnits =
    [
        (SiteKind.Attn, 1, 2, 0.5), (SiteKind.Attn, 1, 5, -0.25),
        (SiteKind.Mlp, 0, 7, 1.0),
        (SiteKind.MlpOut, 1, 3, -0.5),
    ];

    private static ModelProto Steer(PatchOptions options)
    {
        var plan = SteeringPlan.Scale(Sites(), SteeredUnits, new SteeringProvenance("austeer", 4, 1.0, null), "fixture");
        return GraphPatcher.Apply(new OnnxModel(Base()), plan, options).Model.Proto;
    }

    private static ModelProto AddSteering()
    {
        var vector = new float[Hidden];
        vector[1] = 0.25f;
        vector[6] = -0.125f;
        var plan = SteeringPlan.Add(Sites(), [(SiteKind.MlpOut, 0, vector)], new SteeringProvenance("caa", null, 1.0, null), "fixture");
        return GraphPatcher.Apply(new OnnxModel(Base()), plan, PatchOptions.Default).Model.Proto;
    }

    /// <summary>Initializers stored in reverse order (the graph is a chain, so node order is fixed): the same model.</summary>
    private static ModelProto Reordered()
    {
        var m = Base();
        var inits = m.Graph.Initializer.Reverse().ToList();
        m.Graph.Initializer.Clear();
        m.Graph.Initializer.AddRange(inits);
        return m;
    }

    /// <summary>Hand edits of every kind the diff reports.</summary>
    private static ModelProto Edited()
    {
        var m = Base();
        var g = m.Graph;
        m.ProducerVersion = "2";
        m.OpsetImport[0].Version = 18;
        m.MetadataProps[0].Value = "edited";
        m.MetadataProps.Add(new StringStringEntryProto { Key = "note", Value = "hand-edited fixture" });
        // Rename a node and its output (matched by structure).
        var sigmoid = g.Node.Single(n => n.Name == "/model/layers.0/mlp/act_fn/Sigmoid");
        sigmoid.Name = "/model/layers.0/mlp/activation/Sigmoid";
        sigmoid.Output[0] = "/model/layers.0/mlp/activation/Sigmoid/output_0";
        g.Node.Single(n => n.Name == "/model/layers.0/mlp/Mul").Input[1] = sigmoid.Output[0];
        // Change an attribute.
        g.Node.Single(n => n.Name == "/probs/Softmax").Attribute[0].I = 2;
        // Change three weights.
        var up = g.Initializer.Single(t => t.Name == "model.layers.1.mlp.up_proj.weight");
        var values = Floats(up);
        values[0] += 0.5f;
        values[17] -= 0.03125f;
        values[95] *= -1;
        up.RawData = Bytes(values);
        // Add a node with a new graph output; remove nothing else.
        Add(g, "/logits_copy/Identity", "Identity", ["logits"], output: "logits_copy");
        g.Output.Add(Value("logits_copy", [1, "sequence", Vocab]));
        // Rewire: layer 1's residual reads the layer-0 residual instead of o_proj's output.
        g.Node.Single(n => n.Name == "/model/layers.1/residual/Add").Input[1] = "/model/layers.0/residual/Add/output_0";
        return m;
    }

    /// <summary>The steered model with one unrelated weight changed: the summary must not call the rest unchanged.</summary>
    private static ModelProto SteeredEdited(ModelProto steered)
    {
        var m = steered.Clone();
        var lm = m.Graph.Initializer.Single(t => t.Name == "lm_head.weight");
        var values = Floats(lm);
        values[5] += 1f;
        lm.RawData = Bytes(values);
        return m;
    }

    private static void Projection(GraphProto g, Lcg rng, string name, string input, string weight, int k, int n, string? output = null)
    {
        var values = new float[k * n];
        for (var i = 0; i < values.Length; i++) values[i] = rng.NextSigned() / MathF.Sqrt(k);
        g.Initializer.Add(Tensor(weight, [k, n], values));
        Add(g, name, "MatMul", [input, weight], output);
    }

    private static NodeProto Add(GraphProto g, string name, string op, string[] inputs, string? output = null)
    {
        var n = new NodeProto { Name = name, OpType = op };
        n.Input.AddRange(inputs);
        n.Output.Add(output ?? name + "/output_0");
        g.Node.Add(n);
        return n;
    }

    public static TensorProto Tensor(string name, long[] dims, float[] values)
    {
        var t = new TensorProto { Name = name, DataType = Float, RawData = Bytes(values) };
        t.Dims.AddRange(dims);
        return t;
    }

    public static float[] Floats(TensorProto t) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();

    public static ByteString Bytes(float[] values) =>
        ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));

    private static ValueInfoProto Value(string name, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = Float, Shape = shape } } };
    }

    /// <summary>A fixed linear congruential generator, so fixtures do not depend on System.Random's algorithm.</summary>
    private sealed class Lcg(ulong state)
    {
        /// <summary>Uniform in [-1, 1), on a 1/1024 grid so weights print short.</summary>
        public float NextSigned()
        {
            state = state * 6364136223846793005UL + 1442695040888963407UL;
            return ((int)(state >> 54) - 512) / 512f;
        }
    }
}
