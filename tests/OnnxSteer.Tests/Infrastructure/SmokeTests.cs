using OnnxSteer.ModelFiles;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests;

public class SmokeTests
{
    [SharedFact]
    public void LoadsTheGenaiExportWithoutReadingWeights()
    {
        var model = OnnxModel.Load(System.IO.Path.Combine(SharedData.TinyGenaiModelDir, "model.onnx"));
        Assert.True(model.Graph.Node.Count > 10);
        Assert.Contains(model.Graph.Initializer, t => t.DataLocation == global::Onnx.TensorProto.Types.DataLocation.External);
    }
}
