using Google.Protobuf;
using Onnx;
using OnnxSteer.Patching;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;
using Xunit;

namespace OnnxSteer.Tests.Patching;

/// <summary>
/// Folding into an int4 com.microsoft MatMulNBits down projection, checked through ONNX Runtime:
/// <c>x → Sigmoid·x → m → MatMulNBits(int4, block 16) → y → (+x) → logits</c>.
/// </summary>
public class NBitsFoldTests
{
    private const int K = 32, N = 8, Block = 16, Tokens = 4;
    private const string Down = "/model/layers.0/mlp/down_proj/MatMulNBits";
    private static readonly SteeringProvenance Prov = new("austeer", 2, 1, null);
    private const int F32 = (int)TensorProto.Types.DataType.Float;

    private static SteeringSite MlpOut => new(SiteKind.MlpOut, 0, N, F32, Down, "MatMulNBits", "y");
    private static SteeringSite Mlp => new(SiteKind.Mlp, 0, K, F32, Down, "MatMulNBits", "m");

    /// <summary>Random int4 weights (q in 0..15, zero point 8 by default), one float scale per block of 16 along K.</summary>
    private static ModelProto Build(bool withBias)
    {
        var rng = new Random(11);
        var blocks = K / Block;
        var packed = new byte[N * blocks * (Block / 2)];
        rng.NextBytes(packed);
        var scales = Enumerable.Range(0, N * blocks).Select(_ => (float)(0.01 + rng.NextDouble() * 0.05)).ToArray();
        var g = new GraphProto { Name = "nbits" };
        g.Input.Add(Value("x", [1, Tokens, K]));
        g.Output.Add(Value("logits", [1, Tokens, N]));
        var b = new TensorProto { Name = "down.qweight", DataType = (int)TensorProto.Types.DataType.Uint8, RawData = ByteString.CopyFrom(packed) };
        b.Dims.AddRange([N, blocks, Block / 2]);
        var s = new TensorProto { Name = "down.scales", DataType = F32, RawData = ByteString.CopyFrom(ElementEncoding.Encode(scales, F32)) };
        s.Dims.AddRange([N, blocks]);
        g.Initializer.Add(b);
        g.Initializer.Add(s);
        g.Node.Add(TinyDecoder.Node("/model/layers.0/mlp/act_fn/Sigmoid", "Sigmoid", ["x"], ["sig"]));
        g.Node.Add(TinyDecoder.Node("/model/layers.0/mlp/Mul", "Mul", ["x", "sig"], ["m"]));
        string[] inputs = withBias ? ["m", "down.qweight", "down.scales", "", "", "down.bias"] : ["m", "down.qweight", "down.scales"];
        if (withBias)
        {
            var bias = new TensorProto { Name = "down.bias", DataType = F32, RawData = ByteString.CopyFrom(ElementEncoding.Encode(OrtHarness.Random(N, 12), F32)) };
            bias.Dims.Add(N);
            g.Initializer.Add(bias);
        }
        var node = TinyDecoder.Node(Down, "MatMulNBits", inputs, ["y"]);
        node.Domain = "com.microsoft";
        foreach (var (name, value) in new[] { ("K", K), ("N", N), ("bits", 4), ("block_size", Block) })
            node.Attribute.Add(new AttributeProto { Name = name, I = value, Type = AttributeProto.Types.AttributeType.Int });
        g.Node.Add(node);
        g.Node.Add(TinyDecoder.Node("/model/layers.0/residual/Slice", "Identity", ["y"], ["logits"]));
        var m = new ModelProto { IrVersion = 8, Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        return m;
    }

    private static ValueInfoProto Value(string name, long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = F32, Shape = shape } } };
    }

    private static float[] Logits(ModelProto model, int seed)
    {
        using var x = OrtHarness.Tensor(OrtHarness.Random(Tokens * K, seed), [1, Tokens, K], F32);
        return OrtHarness.Run(model, null, new Dictionary<string, OrtValue> { ["x"] = x }, ["logits"], F32)["logits"];
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Output_fold_with_power_of_two_factors_is_bitwise_equal_to_the_Mul(bool withBias)
    {
        var model = new OnnxSteer.ModelFiles.OnnxModel(Build(withBias));
        // Factors 2, 0.5, 4 and 0.25: scaling a block scale by a power of two is exact, and so is every product and sum after it.
        var plan = SteeringPlan.Scale([MlpOut], [(SiteKind.MlpOut, 0, 0, 1.0), (SiteKind.MlpOut, 0, 3, -0.5), (SiteKind.MlpOut, 0, 5, 3.0), (SiteKind.MlpOut, 0, 7, -0.75)], Prov);
        var mul = GraphPatcher.Apply(model, plan, PatchOptions.Default).Model.Proto;
        var folded = GraphPatcher.Apply(model, plan, new PatchOptions(Fold: true));
        Assert.Equal("fold", folded.Step.Apply);
        Assert.Equal(model.Graph.Node.Count, folded.Model.Graph.Node.Count);
        Assert.Contains("down.scales", folded.FoldedTensors);
        foreach (var seed in new[] { 1, 2, 3 })
        {
            var a = Logits(mul, seed);
            var b = Logits(folded.Model.Proto, seed);
            Assert.Equal(a.Select(BitConverter.SingleToInt32Bits), b.Select(BitConverter.SingleToInt32Bits));
            Assert.NotEqual(Logits(model.Proto, seed), a);
        }
        Assert.Equal(model.Proto, GraphUnpatcher.Remove(folded.Model).Proto);
    }

    [Fact]
    public void Output_fold_with_any_factor_matches_the_Mul_within_float_rounding()
    {
        var model = new OnnxSteer.ModelFiles.OnnxModel(Build(withBias: true));
        var plan = SteeringPlan.Scale([MlpOut], [(SiteKind.MlpOut, 0, 1, 0.37), (SiteKind.MlpOut, 0, 6, -0.81)], Prov);
        var mul = GraphPatcher.Apply(model, plan, PatchOptions.Default).Model.Proto;
        var folded = GraphPatcher.Apply(model, plan, new PatchOptions(Fold: true)).Model.Proto;
        var a = Logits(mul, 4);
        var b = Logits(folded, 4);
        Assert.True(OrtHarness.MaxRelativeDifference(a, b) <= 1e-6, $"differ by {OrtHarness.MaxRelativeDifference(a, b)}");
    }

    [Fact]
    public void Input_fold_on_int4_falls_back_to_Mul_and_says_why()
    {
        var model = new OnnxSteer.ModelFiles.OnnxModel(Build(withBias: false));
        var plan = SteeringPlan.Scale([Mlp], [(SiteKind.Mlp, 0, 5, 1.0)], Prov);
        var result = GraphPatcher.Apply(model, plan, new PatchOptions(Fold: true));
        Assert.Equal("mul", result.Step.Apply);
        Assert.Contains(result.Notes, n => n.Contains("mlp.0: not folded") && n.Contains("requantising"));
        var mul = GraphPatcher.Apply(model, plan, PatchOptions.Default).Model.Proto;
        Assert.Equal(Logits(mul, 5), Logits(result.Model.Proto, 5));
    }
}
