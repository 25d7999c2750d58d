using OnnxSteer.Cli;
using OnnxSteer.ModelFiles;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.ModelFiles;

public sealed class RepackCommandTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static int Run(params string[] args) => CliApp.RunAsync(args).GetAwaiter().GetResult();

    private static Dictionary<string, float[]> Weights(OnnxModel model) =>
        model.Graph.Initializer.Where(t => t.DataType is 1 or 10).ToDictionary(t => t.Name, t => TensorData.ReadFloats(t, model));

    private static void AssertSameWeights(Dictionary<string, float[]> expected, Dictionary<string, float[]> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, values) in expected)
            Assert.True(values.AsSpan().SequenceEqual(actual[name]), $"weights of '{name}' differ");
    }

    [SharedFact]
    public void RepacksTheGenaiModelInlineAndBackWithoutTouchingTheInput()
    {
        // Work on a copy so that even a bug could not touch ../shared; checksums prove the copy is not modified.
        var src = Directory.CreateDirectory(_temp["in"]).FullName;
        foreach (var f in new[] { "model.onnx", "model.onnx.data" })
            File.Copy(Path.Combine(SharedData.TinyGenaiModelDir, f), Path.Combine(src, f));
        var before = Directory.GetFiles(src).ToDictionary(f => f, TestModels.Sha256);
        var original = OnnxModel.Load(Path.Combine(src, "model.onnx"));
        var expected = Weights(original);
        Assert.True(expected.Count > 10);

        Assert.Equal(0, Run("repack", Path.Combine(src, "model.onnx"), "-o", _temp["inline.onnx"], "--inline"));
        var inline = OnnxModel.Load(_temp["inline.onnx"]);
        Assert.Empty(inline.ExternalTensors());
        AssertSameWeights(expected, Weights(inline));

        Assert.Equal(0, Run("repack", _temp["inline.onnx"], "-o", _temp["ext.onnx"], "--external-data", "ext.bin", "--threshold", "4096", "--align", "65536"));
        var external = OnnxModel.Load(_temp["ext.onnx"]);
        Assert.All(external.Graph.Initializer, t =>
        {
            Assert.Equal(TensorData.ByteSize(t) >= 4096, ExternalDataReference.IsExternal(t));
            if (ExternalDataReference.IsExternal(t)) Assert.Equal(0, ExternalDataReference.Parse(t, "m").Offset % 65536);
        });
        AssertSameWeights(expected, Weights(external));
        Assert.Equal(before, Directory.GetFiles(src).ToDictionary(f => f, TestModels.Sha256));
        Assert.Empty(Directory.GetFiles(_temp.Path, "*.tmp", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFiles(_temp.Path, ".*", SearchOption.AllDirectories));
    }

    [Fact]
    public void RefusesToOverwriteItsInput()
    {
        var model = new OnnxModel(TestModels.MatMulAdd(32, 32));
        model.Save(_temp["m.onnx"], SaveOptions.External("m.data"));
        var sums = Directory.GetFiles(_temp.Path).ToDictionary(f => f, TestModels.Sha256);
        // An output that is the input is a command-line mistake (64), with --force too (docs/errors.md).
        Assert.Equal(ExitCodes.Usage, Run("repack", _temp["m.onnx"], "-o", _temp["m.onnx"], "--inline"));
        Assert.Equal(ExitCodes.Usage, Run("repack", _temp["m.onnx"], "-o", _temp["m.onnx"], "--inline", "--force"));
        Assert.Equal(ExitCodes.Usage, Run("repack", _temp["m.onnx"], "-o", _temp["n.onnx"], "--external-data", "m.data"));
        Assert.Equal(ExitCodes.Usage, Run("repack", _temp["m.onnx"], "-o", _temp["n.onnx"], "--external-data", "m.onnx"));
        Assert.Equal(sums, Directory.GetFiles(_temp.Path).ToDictionary(f => f, TestModels.Sha256));
    }

    [Fact]
    public void ContradictoryOrBadOptionsAreUsageErrors()
    {
        var file = TestModels.Write(TestModels.MatMulAdd(), _temp["m.onnx"]);
        Assert.Equal(ExitCodes.Usage, Run("repack", file, "-o", _temp["o.onnx"], "--inline", "--external-data", "d"));
        Assert.Equal(ExitCodes.Usage, Run("repack", file, "-o", _temp["o.onnx"], "--external-data", "d", "--align", "0"));
        Assert.Equal(ExitCodes.InvalidInput, Run("repack", _temp["missing.onnx"], "-o", _temp["o.onnx"]));
        Assert.Equal(ExitCodes.InvalidInput, Run("repack", file, "-o", _temp["o.onnx"], "--external-data", "../x.data"));
        Assert.False(File.Exists(_temp["o.onnx"]));
    }
}
