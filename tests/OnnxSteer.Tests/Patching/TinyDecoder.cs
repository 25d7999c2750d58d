using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Sites;

namespace OnnxSteer.Tests.Patching;

/// <summary>
/// A one-layer decoder-shaped graph built in code, named like onnxruntime-genai exports:
/// <c>x → o_proj → (+x) → r → up_proj → u·sigmoid(u) → m → down_proj → y → (+r) → logits</c>.
/// x is read by o_proj AND by the residual Add, so a test can check that only the projection sees the steered value.
/// Weights are random but fixed by <c>seed</c>.
/// </summary>
internal sealed class TinyDecoder
{
    public const int Hidden = 8;
    public const int Intermediate = 12;
    public const string OProj = "/model/layers.0/attn/o_proj/MatMul";
    public const string DownProj = "/model/layers.0/mlp/down_proj/MatMul";
    public const string AttnValue = "x";
    public const string MlpValue = "/model/layers.0/mlp/Mul/output_0";
    public const string MlpOutValue = "/model/layers.0/mlp/down_proj/MatMul/output_0";

    public ModelProto Proto { get; }
    public int ElementType { get; }
    public bool Gemm { get; }

    /// <param name="elementType">FLOAT, FLOAT16 or BFLOAT16.</param>
    /// <param name="gemm">Use Gemm (transB = 1, with bias) for the projections instead of MatMul.</param>
    /// <param name="mlpOutIsGraphOutput">Also expose down_proj's output as a graph output.</param>
    public TinyDecoder(int elementType = (int)TensorProto.Types.DataType.Float, bool gemm = false, bool mlpOutIsGraphOutput = false, int seed = 1)
    {
        ElementType = elementType;
        Gemm = gemm;
        var rng = new Random(seed);
        var g = new GraphProto { Name = "tiny" };
        // Gemm needs 2-D input, so the Gemm variant takes x as [tokens, hidden].
        g.Input.Add(Value("x", gemm ? ["tokens", Hidden] : [1, "tokens", Hidden]));
        g.Output.Add(Value("logits", gemm ? ["tokens", Hidden] : [1, "tokens", Hidden]));
        if (mlpOutIsGraphOutput) g.Output.Add(Value(MlpOutValue, gemm ? ["tokens", Hidden] : [1, "tokens", Hidden]));

        Projection(g, rng, OProj, AttnValue, "model.layers.0.attn.o_proj.weight", Hidden, Hidden, "/model/layers.0/attn/o_proj/MatMul/output_0");
        g.Node.Add(Node("/model/layers.0/residual/Add", "Add", ["x", "/model/layers.0/attn/o_proj/MatMul/output_0"], ["/model/layers.0/residual/Add/output_0"]));
        Projection(g, rng, "/model/layers.0/mlp/up_proj/MatMul", "/model/layers.0/residual/Add/output_0", "model.layers.0.mlp.up_proj.weight", Hidden, Intermediate, "/model/layers.0/mlp/up_proj/MatMul/output_0");
        g.Node.Add(Node("/model/layers.0/mlp/act_fn/Sigmoid", "Sigmoid", ["/model/layers.0/mlp/up_proj/MatMul/output_0"], ["/model/layers.0/mlp/act_fn/Sigmoid/output_0"]));
        g.Node.Add(Node("/model/layers.0/mlp/Mul", "Mul", ["/model/layers.0/mlp/up_proj/MatMul/output_0", "/model/layers.0/mlp/act_fn/Sigmoid/output_0"], [MlpValue]));
        Projection(g, rng, DownProj, MlpValue, "model.layers.0.mlp.down_proj.weight", Intermediate, Hidden, MlpOutValue);
        g.Node.Add(Node("/model/layers.0/residual2/Add", "Add", ["/model/layers.0/residual/Add/output_0", MlpOutValue], ["logits"]));

        Proto = new ModelProto { IrVersion = 8, ProducerName = "tiny-decoder", Graph = g };
        Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        Proto.MetadataProps.Add(new StringStringEntryProto { Key = "source", Value = "test" });
    }

    public OnnxModel Model(string? path = null) => new(Proto.Clone(), path);

    /// <summary>The three sites of layer 0, as a site finder would report them.</summary>
    public IReadOnlyList<SteeringSite> Sites()
    {
        var op = Gemm ? "Gemm" : "MatMul";
        return
        [
            new SteeringSite(SiteKind.Attn, 0, Hidden, ElementType, ProjectionName(OProj), op, AttnValue),
            new SteeringSite(SiteKind.Mlp, 0, Intermediate, ElementType, ProjectionName(DownProj), op, MlpValue),
            new SteeringSite(SiteKind.MlpOut, 0, Hidden, ElementType, ProjectionName(DownProj), op, MlpOutValue),
        ];
    }

    /// <summary>The node name of a projection in this variant (…/Gemm for the Gemm variant).</summary>
    public string ProjectionName(string matMulName) => Gemm ? matMulName.Replace("MatMul", "Gemm") : matMulName;

    private void Projection(GraphProto g, Random rng, string name, string input, string weight, int k, int n, string output)
    {
        // MatMul: B is [K, N]. Gemm (transB = 1): B is [N, K], plus a bias C[N].
        var values = new float[k * n];
        for (var i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) / MathF.Sqrt(k);
        if (Gemm)
        {
            var t = new float[k * n];
            for (var i = 0; i < k; i++) for (var j = 0; j < n; j++) t[j * k + i] = values[i * n + j];
            g.Initializer.Add(Tensor(weight, [n, k], t));
            var bias = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
            g.Initializer.Add(Tensor(weight + ".bias", [n], bias));
            var node = Node(ProjectionName(name), "Gemm", [input, weight, weight + ".bias"], [output]);
            node.Attribute.Add(new AttributeProto { Name = "transB", I = 1, Type = AttributeProto.Types.AttributeType.Int });
            g.Node.Add(node);
        }
        else
        {
            g.Initializer.Add(Tensor(weight, [k, n], values));
            g.Node.Add(Node(name, "MatMul", [input, weight], [output]));
        }
    }

    public TensorProto Tensor(string name, long[] dims, float[] values)
    {
        var t = new TensorProto { Name = name, DataType = ElementType, RawData = ByteString.CopyFrom(ElementEncoding.Encode(values, ElementType)) };
        t.Dims.AddRange(dims);
        return t;
    }

    public static NodeProto Node(string name, string op, string[] inputs, string[] outputs)
    {
        var n = new NodeProto { Name = name, OpType = op };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }

    private ValueInfoProto Value(string name, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = ElementType, Shape = shape } } };
    }
}
