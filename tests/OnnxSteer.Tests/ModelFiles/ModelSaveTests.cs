using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;
using Xunit;

namespace OnnxSteer.Tests.ModelFiles;

public sealed class ModelSaveTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void InlineToExternalToInlineKeepsEveryValue()
    {
        var original = TestModels.MatMulAdd(64, 32); // W: 8 KiB, B: 128 bytes (stays inline under the 1 KiB threshold)
        var model = new OnnxModel(original.Clone());
        var saved = model.Save(_temp["ext.onnx"], SaveOptions.External("ext.onnx.data"));
        Assert.Equal(1, saved.ExternalTensors);
        Assert.Equal(64 * 32 * 4, saved.ExternalBytes);

        var reloaded = OnnxModel.Load(_temp["ext.onnx"]);
        var w = reloaded.Graph.Initializer.Single(t => t.Name == "W");
        var b = reloaded.Graph.Initializer.Single(t => t.Name == "B");
        Assert.True(ExternalDataReference.IsExternal(w));
        Assert.False(ExternalDataReference.IsExternal(b));
        Assert.Equal(TensorData.ReadFloats(original.Graph.Initializer[0], _temp.Path, "o"), TensorData.ReadFloats(w, reloaded));
        Assert.Equal(original.Graph.Initializer[1], b); // untouched below the threshold, still in float_data

        reloaded.Save(_temp["back.onnx"]);
        var back = OnnxModel.Load(_temp["back.onnx"]);
        Assert.Equal(original, back.Proto); // W was raw_data from the start, so the protobufs are equal again
        Assert.Equal(["back.onnx", "ext.onnx", "ext.onnx.data"], Directory.GetFiles(_temp.Path).Select(f => Path.GetFileName(f)!).Order().ToArray());
    }

    [Fact]
    public void ThresholdZeroMovesTypedFieldsToRawExternalBytes()
    {
        var model = new OnnxModel(TestModels.MatMulAdd());
        model.Save(_temp["m.onnx"], SaveOptions.External("m.data", threshold: 0, alignment: 64));
        var reloaded = OnnxModel.Load(_temp["m.onnx"]);
        Assert.All(reloaded.Graph.Initializer, t => Assert.True(ExternalDataReference.IsExternal(t)));
        Assert.Equal([10f, 11f, 12f, 13f], TensorData.ReadFloats(reloaded.Graph.Initializer[1], reloaded));
        Assert.Equal(64 + 16, new FileInfo(_temp["m.data"]).Length); // W (48 bytes) at 0, B at 64
    }

    [Fact]
    public void AfterSavingTheModelRefersToTheNewFiles()
    {
        var model = new OnnxModel(TestModels.MatMulAdd(32, 32));
        var expected = TensorData.ReadFloats(model.Graph.Initializer[0], model);
        model.Save(_temp["a.onnx"], SaveOptions.External("shared.data"));
        Assert.Equal(_temp["a.onnx"], model.FilePath);
        // Saving again over its own data file: the new file is built from the old one before replacing it.
        model.Save(_temp["a.onnx"], SaveOptions.External("shared.data", alignment: 128));
        Assert.Equal(expected, TensorData.ReadFloats(model.Graph.Initializer[0], model));
        Assert.Equal(expected, TensorData.ReadFloats(OnnxModel.Load(_temp["a.onnx"]).Graph.Initializer[0], OnnxModel.Load(_temp["a.onnx"])));
        Assert.Equal(2, Directory.GetFiles(_temp.Path).Length);
    }

    [Fact]
    public void AFailedSaveWritesNothingAndLeavesTheModelAlone()
    {
        var model = new OnnxModel(TestModels.MatMulAdd(32, 32));
        var before = model.Proto.ToByteArray();
        Assert.Throws<InvalidModelException>(() => model.Save(_temp["m.onnx"], SaveOptions.External("../escape.data")));
        Assert.Throws<OnnxSteerException>(() => model.Save(_temp["m.onnx"], SaveOptions.External("m.onnx")));
        Assert.Empty(Directory.GetFiles(_temp.Path));
        Assert.Equal(before, model.Proto.ToByteArray());
    }

    [Fact]
    public void ModelsAboveTwoGigabytesWorkWithExternalDataOnly()
    {
        // A sparse data file: a 2.4 GB float tensor then a small one past the 2^31 mark. Holes cost no disk.
        const long bigCount = 600_000_000, bigBytes = bigCount * 4, smallOffset = 2_400_002_048;
        var src = Directory.CreateDirectory(_temp["src"]).FullName;
        using (var f = new FileStream(Path.Combine(src, "big.data"), FileMode.CreateNew))
        {
            f.SetLength(smallOffset + 16);
            f.Position = bigBytes - 16;
            f.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes<float>([1f, 2f, 3f, 4f]));
            f.Position = smallOffset;
            f.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes<float>([5f, 6f, 7f, 8f]));
        }
        var proto = TestModels.MatMulAdd();
        proto.Graph.Initializer.Clear();
        var big = new TensorProto { Name = "big", DataType = (int)TensorProto.Types.DataType.Float };
        big.Dims.Add(bigCount);
        TestModels.PointAt(big, "big.data", 0, bigBytes);
        var small = new TensorProto { Name = "small", DataType = (int)TensorProto.Types.DataType.Float };
        small.Dims.Add(4);
        TestModels.PointAt(small, "big.data", smallOffset, 16);
        proto.Graph.Initializer.Add([big, small]);
        var model = OnnxModel.Load(TestModels.Write(proto, Path.Combine(src, "model.onnx")));

        Assert.Equal([5f, 6f, 7f, 8f], TensorData.ReadFloats(small, model));
        var tooBig = Assert.Throws<OnnxSteerException>(() => model.ReadBytes(big));
        Assert.Contains("OpenRead", tooBig.Message);
        Assert.Equal([1f, 2f, 3f, 4f], Tail(big, model));

        var inline = Assert.Throws<OnnxSteerException>(() => model.Save(_temp["inline.onnx"]));
        Assert.Contains("2 GB", inline.Message);
        Assert.False(File.Exists(_temp["inline.onnx"]));

        var result = model.Save(_temp["out.onnx"], SaveOptions.External("out.data", threshold: 0));
        Assert.Equal(2, result.ExternalTensors);
        var copy = OnnxModel.Load(_temp["out.onnx"]);
        Assert.Equal([5f, 6f, 7f, 8f], TensorData.ReadFloats(copy.Graph.Initializer[1], copy));
        Assert.Equal([1f, 2f, 3f, 4f], Tail(copy.Graph.Initializer[0], copy));
        Assert.Equal(smallOffset + 16, new FileInfo(_temp["out.data"]).Length);
    }

    private static float[] Tail(TensorProto tensor, OnnxModel model)
    {
        using var stream = TensorData.OpenRead(tensor, model.BaseDirectory, model.DisplayName);
        stream.Seek(-16, SeekOrigin.End);
        var tail = new byte[16];
        stream.ReadExactly(tail);
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(tail).ToArray();
    }
}
