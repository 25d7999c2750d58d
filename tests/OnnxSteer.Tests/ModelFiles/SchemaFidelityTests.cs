using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;
using Xunit;

namespace OnnxSteer.Tests.ModelFiles;

/// <summary>Parts of the schema libonnx-testdata's older files do not use: newer fields, and fields our .proto omits.</summary>
public sealed class SchemaFidelityTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void NewerFieldsAndUnknownFieldsSurviveSaveAndLoadByteForByte()
    {
        var model = TestModels.MatMulAdd();
        model.IrVersion = 10;
        model.MetadataProps.Add(new StringStringEntryProto { Key = "k", Value = "v" });
        model.Graph.MetadataProps.Add(new StringStringEntryProto { Key = "graph", Value = "meta" });
        model.Graph.Node[0].MetadataProps.Add(new StringStringEntryProto { Key = "node", Value = "meta" });
        model.Graph.Node[0].Overload = "ov";
        var sparseValues = TensorData.FromFloats("S", [2], [1f, 2f]);
        var sparseIndices = new TensorProto { Name = "S_idx", DataType = (int)TensorProto.Types.DataType.Int64 };
        sparseIndices.Dims.Add(2);
        sparseIndices.Int64Data.Add([0, 3]);
        var sparse = new SparseTensorProto { Values = sparseValues, Indices = sparseIndices };
        sparse.Dims.Add(4);
        model.Graph.SparseInitializer.Add(sparse);
        var function = new FunctionProto { Name = "F", Domain = "custom", Overload = "o1" };
        function.Input.Add("a");
        function.Output.Add("b");
        function.AttributeProto.Add(new AttributeProto { Name = "alpha", Type = AttributeProto.Types.AttributeType.Float, F = 0.5f });
        function.Node.Add(TestModels.Node("Relu", ["a"], ["b"], "relu"));
        function.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
        function.ValueInfo.Add(TestModels.FloatValue("b", 2));
        model.Functions.Add(function);
        model.TrainingInfo.Add(new TrainingInfoProto { Algorithm = new GraphProto { Name = "train" } });
        var bytes = model.ToByteArray();
        // Append fields this schema does not define (ModelProto 26, the IR 11 'configuration'; field 99 varint):
        // they must come back unchanged.
        byte[] unknown = [0xD2, 0x01, 0x03, 0x0A, 0x01, 0x78, 0x98, 0x06, 0x2A];
        var input = _temp["in.onnx"];
        File.WriteAllBytes(input, [.. bytes, .. unknown]);

        var loaded = OnnxModel.Load(input);
        Assert.Equal("o1", loaded.Proto.Functions[0].Overload);
        Assert.Single(loaded.Proto.Graph.SparseInitializer);
        loaded.Save(_temp["out.onnx"]);
        Assert.Equal(File.ReadAllBytes(input), File.ReadAllBytes(_temp["out.onnx"]));

        // And through external data: the sparse tensor stays inline, W goes out, the unknown fields stay.
        loaded.Save(_temp["ext.onnx"], SaveOptions.External("ext.data", threshold: 0));
        var external = OnnxModel.Load(_temp["ext.onnx"]);
        Assert.True(ExternalDataReference.IsExternal(external.Graph.Initializer[0]));
        Assert.False(ExternalDataReference.IsExternal(external.Graph.SparseInitializer[0].Values));
        external.Save(_temp["back.onnx"]);
        var back = File.ReadAllBytes(_temp["back.onnx"]);
        Assert.True(back.AsSpan().EndsWith(unknown));
        var reloaded = OnnxModel.Load(_temp["back.onnx"]);
        Assert.Equal([10f, 11f, 12f, 13f], TensorData.ReadFloats(reloaded.Graph.Initializer[1], reloaded)); // was float_data, now raw_data
    }
}
