using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using Xunit;

namespace OnnxSteer.Tests.Profiles;

public class ModelFingerprintTests
{
    private static OnnxModel Model(float weight, string op = "MatMul", long width = 4)
    {
        var w = new TensorProto { Name = "W", DataType = (int)TensorProto.Types.DataType.Float, Dims = { width, 2 } };
        for (var i = 0; i < width * 2; i++) w.FloatData.Add(weight + i);
        var g = new GraphProto { Name = "g", Initializer = { w } };
        g.Input.Add(new ValueInfoProto { Name = "x" });
        g.Output.Add(new ValueInfoProto { Name = "y" });
        g.Node.Add(new NodeProto { Name = "proj", OpType = op, Input = { "x", "W" }, Output = { "y" } });
        return new OnnxModel(new ModelProto { Graph = g, OpsetImport = { new OperatorSetIdProto { Version = 17 } } });
    }

    private static readonly SteeringSite[] Sites = [new(SiteKind.Mlp, 0, 4, 1, "proj", "MatMul", "x")];

    [Fact]
    public void Depends_on_structure_and_sites_not_on_weights()
    {
        var a = ModelFingerprint.Compute(Model(1f), Sites);
        Assert.Matches("^sha256:[0-9a-f]{64}$", a);
        Assert.Equal(a, ModelFingerprint.Compute(Model(-7.5f), Sites));
        Assert.NotEqual(a, ModelFingerprint.Compute(Model(1f, op: "Gemm"), Sites));
        Assert.NotEqual(a, ModelFingerprint.Compute(Model(1f, width: 5), Sites));
        Assert.NotEqual(a, ModelFingerprint.Compute(Model(1f), [Sites[0] with { Width = 3 }]));
        Assert.NotEqual(a, ModelFingerprint.Compute(Model(1f), []));
    }
}
