using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.ModelFiles;

/// <summary>Each unsafe external-data reference is created for real and must be refused, naming the model and location.</summary>
public sealed class ExternalDataSecurityTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly string _modelDir;
    private readonly string _outside;

    public ExternalDataSecurityTests()
    {
        _modelDir = Directory.CreateDirectory(_temp["model"]).FullName;
        _outside = Directory.CreateDirectory(_temp["outside"]).FullName;
        // 48 bytes: exactly W's size in the 3x4 float model.
        File.WriteAllBytes(Path.Combine(_outside, "w.bin"), new byte[48]);
        File.WriteAllBytes(Path.Combine(_modelDir, "good.bin"), new byte[100]);
    }

    public void Dispose() => _temp.Dispose();

    /// <summary>Writes the 3x4 MatMul model with W pointing at <paramref name="location"/>; returns the model file.</summary>
    private string ModelPointingAt(string location, long offset = 0, long? length = null)
    {
        var model = TestModels.MatMulAdd();
        TestModels.PointAt(model.Graph.Initializer[0], location, offset, length);
        return TestModels.Write(model, Path.Combine(_modelDir, "model.onnx"));
    }

    private static void AssertRefused(string modelFile, string location, string why)
    {
        var e = Assert.Throws<InvalidModelException>(() => OnnxModel.Load(modelFile));
        Assert.Contains(modelFile, e.Message);
        Assert.Contains(location, e.Message);
        Assert.Contains(why, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        // Reading directly (skipping the load-time check) is refused the same way.
        var unchecked_ = OnnxModel.Load(modelFile, checkExternalData: false);
        var again = Assert.Throws<InvalidModelException>(() => unchecked_.ReadBytes(unchecked_.Graph.Initializer[0]));
        Assert.Contains(location, again.Message);
    }

    [Fact]
    public void AnAbsoluteLocationIsRefused()
    {
        var location = Path.Combine(_outside, "w.bin");
        AssertRefused(ModelPointingAt(location), location, "absolute");
    }

    [Fact]
    public void AWindowsDriveLocationIsRefusedAsAbsolute() =>
        AssertRefused(ModelPointingAt("C:/data/w.bin"), "C:/data/w.bin", "absolute");

    [Fact]
    public void ADotDotLocationIsRefused() =>
        AssertRefused(ModelPointingAt("../outside/w.bin"), "../outside/w.bin", "'..'");

    [Fact]
    public void ADotDotInsideTheFolderIsRefusedToo()
    {
        Directory.CreateDirectory(Path.Combine(_modelDir, "sub"));
        AssertRefused(ModelPointingAt("sub/../good.bin"), "sub/../good.bin", "'..'");
    }

    [Fact]
    public void ASymlinkToAFileOutsideIsRefused()
    {
        File.CreateSymbolicLink(Path.Combine(_modelDir, "link.bin"), Path.Combine(_outside, "w.bin"));
        AssertRefused(ModelPointingAt("link.bin"), "link.bin", "outside the model's folder");
    }

    [Fact]
    public void ASymlinkedFolderLeadingOutsideIsRefused()
    {
        Directory.CreateSymbolicLink(Path.Combine(_modelDir, "weights"), _outside);
        AssertRefused(ModelPointingAt("weights/w.bin"), "weights/w.bin", "outside the model's folder");
    }

    [Fact]
    public void ARelativeSymlinkClimbingOutIsRefused()
    {
        File.CreateSymbolicLink(Path.Combine(_modelDir, "rel.bin"), "../outside/w.bin");
        AssertRefused(ModelPointingAt("rel.bin"), "rel.bin", "outside the model's folder");
    }

    [Fact]
    public void ASymlinkToDevNullIsRefused()
    {
        File.CreateSymbolicLink(Path.Combine(_modelDir, "null.bin"), "/dev/null");
        AssertRefused(ModelPointingAt("null.bin"), "null.bin", "outside the model's folder");
    }

    [Fact]
    public void AFolderIsRefusedAsNotARegularFile()
    {
        Directory.CreateDirectory(Path.Combine(_modelDir, "adir"));
        AssertRefused(ModelPointingAt("adir"), "adir", "not a regular file");
    }

    [Fact]
    public void AFifoIsRefusedWithoutBlocking()
    {
        Assert.Equal(0, TestModels.RunTool("mkfifo", Path.Combine(_modelDir, "pipe.bin")));
        AssertRefused(ModelPointingAt("pipe.bin"), "pipe.bin", "not a regular file");
    }

    [RootFact]
    public void ADeviceNodeInsideTheFolderIsRefused()
    {
        // mknod needs root; /dev/zero's numbers (1,5) would make an endless source of bytes.
        Assert.Equal(0, TestModels.RunTool("mknod", Path.Combine(_modelDir, "zero.bin"), "c", "1", "5"));
        AssertRefused(ModelPointingAt("zero.bin"), "zero.bin", "not a regular file");
    }

    [Fact]
    public void AMissingDataFileIsRefused() =>
        AssertRefused(ModelPointingAt("nothere.bin"), "nothere.bin", "does not exist");

    [Fact]
    public void AnOffsetBeyondTheFileIsRefused() =>
        AssertRefused(ModelPointingAt("good.bin", offset: 64, length: 48), "good.bin", "has only 100 bytes");

    [Fact]
    public void AnOffsetPastTheEndIsRefused() =>
        AssertRefused(ModelPointingAt("good.bin", offset: 4096), "good.bin", "has only 100 bytes");

    [Fact]
    public void ALengthThatDisagreesWithTheShapeIsRefused() =>
        AssertRefused(ModelPointingAt("good.bin", offset: 0, length: 40), "good.bin", "need 48");

    [Fact]
    public void ASymlinkThatStaysInsideIsAccepted()
    {
        var values = Enumerable.Range(0, 12).Select(i => (float)i).ToArray();
        File.WriteAllBytes(Path.Combine(_modelDir, "real.bin"), System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        Directory.CreateDirectory(Path.Combine(_modelDir, "links"));
        File.CreateSymbolicLink(Path.Combine(_modelDir, "links", "w.bin"), "../real.bin");
        var model = OnnxModel.Load(ModelPointingAt("links/w.bin"));
        Assert.Equal(values, TensorData.ReadFloats(model.Graph.Initializer[0], model));
    }

    [Fact]
    public void AnExternalTensorWithoutLocationIsRefused()
    {
        var model = TestModels.MatMulAdd();
        var w = model.Graph.Initializer[0];
        TensorData.ClearStorage(w);
        w.DataLocation = TensorProto.Types.DataLocation.External;
        w.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "0" });
        var file = TestModels.Write(model, Path.Combine(_modelDir, "model.onnx"));
        var e = Assert.Throws<InvalidModelException>(() => OnnxModel.Load(file));
        Assert.Contains("no 'location'", e.Message);
    }

    [Fact]
    public void ANegativeOffsetIsRefused()
    {
        var model = TestModels.MatMulAdd();
        var w = model.Graph.Initializer[0];
        TestModels.PointAt(w, "good.bin");
        w.ExternalData[1].Value = "-8";
        var file = TestModels.Write(model, Path.Combine(_modelDir, "model.onnx"));
        var e = Assert.Throws<InvalidModelException>(() => OnnxModel.Load(file));
        Assert.Contains("offset '-8'", e.Message);
    }
}
