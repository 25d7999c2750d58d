using Onnx;
using OnnxSteer.Runtime;
using Xunit;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Runtime;

/// <summary>
/// What OnnxSteer adds over Microsoft.ML.OnnxRuntime (<see cref="OrtExtensions"/>, <see cref="RuntimeSettings"/>): runs
/// by name, I/O binding with outputs found by name, float16/bfloat16 widening, and ORT's errors as <see cref="OrtException"/>
/// with ORT's message.
/// </summary>
public class InferenceSessionTests
{
    [Fact]
    public void MatMulAdd_MatchesManagedComputation()
    {
        var path = TinyModels.WriteTemp(TinyModels.MatMulAdd());
        try
        {
            using var session = RuntimeSettings.Default.OpenSession(path);
            var rng = new Random(7);
            float[] a = Enumerable.Range(0, 2 * 3).Select(_ => (float)rng.NextDouble() * 2 - 1).ToArray();
            float[] b = Enumerable.Range(0, 3 * 4).Select(_ => (float)rng.NextDouble() * 2 - 1).ToArray();
            float[] c = Enumerable.Range(0, 4).Select(_ => (float)rng.NextDouble()).ToArray();
            using var va = OrtValue.CreateTensorValueFromMemory(a, [2, 3]);
            using var vb = OrtValue.CreateTensorValueFromMemory(b, [3, 4]);
            using var vc = OrtValue.CreateTensorValueFromMemory(c, [4]);
            using var outputs = session.RunNamed(new Dictionary<string, OrtValue> { ["A"] = va, ["B"] = vb, ["C"] = vc }, ["Y"]);

            var y = outputs["Y"];
            Assert.Equal(new long[] { 2, 4 }, y.Shape());
            Assert.Equal(TensorElementType.Float, y.ElementType());
            var got = y.GetTensorDataAsSpan<float>().ToArray();
            for (var i = 0; i < 2; i++)
            for (var j = 0; j < 4; j++)
            {
                double expected = c[j];
                for (var k = 0; k < 3; k++) expected += (double)a[i * 3 + k] * b[k * 4 + j];
                Assert.True(Math.Abs(got[i * 4 + j] - expected) < 1e-5, $"Y[{i},{j}] = {got[i * 4 + j]}, expected {expected} (tolerance 1e-5)");
            }
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Metadata_ShapeTextShowsSymbolicDims()
    {
        using var session = RuntimeSettings.Default.OpenSession(TinyModels.MatMulAdd());
        Assert.Equal(new[] { "A", "B", "C" }, session.InputNames);
        Assert.Equal("[batch,3]", session.InputMetadata["A"].ShapeText());
        Assert.Equal("[batch,4]", session.OutputMetadata["Y"].ShapeText());
    }

    [Theory]
    [InlineData((int)TensorProto.Types.DataType.Float16)]
    [InlineData((int)TensorProto.Types.DataType.Bfloat16)]
    public void HalfPrecisionOutputs_WidenToFloat(int elementType)
    {
        var type = (TensorProto.Types.DataType)elementType;
        using var session = RuntimeSettings.Default.OpenSession(TinyModels.Identity(type));
        var floats = new[] { 0.5f, -3.75f, 256f, 1f / 1024 }; // exact in both float16 and bfloat16
        using var x = type == TensorProto.Types.DataType.Float16
            ? OrtValue.CreateTensorValueFromMemory(floats.Select(f => (Float16)f).ToArray(), [4])
            : OrtValue.CreateTensorValueFromMemory(floats.Select(f => (BFloat16)f).ToArray(), [4]);
        using var outputs = session.RunNamed(new Dictionary<string, OrtValue> { ["X"] = x });
        Assert.Equal(floats, outputs[0].ToFloatArray());
        Assert.Equal(floats[1..3], outputs[0].ReadFloats(1, 2));
    }

    [Fact]
    public void BadInputName_CarriesOrtMessage()
    {
        using var session = RuntimeSettings.Default.OpenSession(TinyModels.Double());
        using var x = OrtValue.CreateTensorValueFromMemory(new float[] { 1 }, [1]);
        var e = Assert.Throws<OrtException>(() => session.RunNamed(new Dictionary<string, OrtValue> { ["Nope"] = x }));
        Assert.Contains("Nope", e.OrtMessage);
        Assert.Contains("Input name", e.OrtMessage); // ORT 1.32: "Input name: 'Nope' is not in the metadata"
        Assert.Equal(ExitCodes.Runtime, ErrorReporter.ExitCode(e));
        Assert.IsType<OnnxRuntimeException>(e.InnerException);
    }

    [Fact]
    public void WrongShape_CarriesOrtMessage()
    {
        using var session = RuntimeSettings.Default.OpenSession(TinyModels.MatMulAdd());
        using var a = OrtValue.CreateTensorValueFromMemory(new float[4], [2, 2]); // B expects 3 rows
        using var b = OrtValue.CreateTensorValueFromMemory(new float[12], [3, 4]);
        using var c = OrtValue.CreateTensorValueFromMemory(new float[4], [4]);
        var e = Assert.Throws<OrtException>(() => session.RunNamed(new Dictionary<string, OrtValue> { ["A"] = a, ["B"] = b, ["C"] = c }));
        Assert.Contains("invalid dimensions", e.OrtMessage, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void GarbageModel_CarriesOrtMessageAndTheSource()
    {
        var e = Assert.Throws<OrtException>(() => RuntimeSettings.Default.OpenSession(new byte[] { 1, 2, 3, 4, 5 }, null, out _, "junk.onnx"));
        Assert.StartsWith("junk.onnx: ONNX Runtime: ", e.Message);
        Assert.False(string.IsNullOrWhiteSpace(e.OrtMessage));
    }

    [Fact]
    public void TerminatedRunOptions_StopTheRun()
    {
        using var session = RuntimeSettings.Default.OpenSession(TinyModels.Double());
        using var x = OrtValue.CreateTensorValueFromMemory(new float[] { 1 }, [1]);
        using var runOptions = new RunOptions { Terminate = true };
        var e = Assert.Throws<OrtException>(() => session.RunNamed(new Dictionary<string, OrtValue> { ["X"] = x }, null, runOptions));
        Assert.Contains("terminat", e.OrtMessage, StringComparison.OrdinalIgnoreCase);
        runOptions.Terminate = false;
        using var outputs = session.RunNamed(new Dictionary<string, OrtValue> { ["X"] = x }, null, runOptions);
        Assert.Equal(2f, outputs[0].GetTensorDataAsSpan<float>()[0]);
    }

    [Fact]
    public void IoBinding_GivesTheSameResultAsRun_AndDetachedOutputsOutliveTheRun()
    {
        using var session = RuntimeSettings.Default.OpenSession(TinyModels.MatMulAdd());
        var a = new float[] { 1, 2, 3, 4, 5, 6 };
        var b = Enumerable.Range(0, 12).Select(i => (float)i / 7).ToArray();
        var c = new float[] { 0.5f, -0.5f, 1, -1 };
        using var va = OrtValue.CreateTensorValueFromMemory(a, [2, 3]);
        using var vb = OrtValue.CreateTensorValueFromMemory(b, [3, 4]);
        using var vc = OrtValue.CreateTensorValueFromMemory(c, [4]);
        using var viaRun = session.RunNamed(new Dictionary<string, OrtValue> { ["A"] = va, ["B"] = vb, ["C"] = vc });
        var expected = viaRun[0].GetTensorDataAsSpan<float>().ToArray();

        using var binding = session.CreateIoBinding();
        binding.BindInput("A", va);
        binding.BindInput("B", vb);
        binding.BindInput("C", vc);
        binding.BindOutputToDevice("Y", OrtMemoryInfo.DefaultInstance);
        OrtValue kept;
        using (var bound = session.RunBound(binding, ["Y"]))
        {
            Assert.Equal(new[] { "Y" }, bound.Names);
            Assert.Equal(expected, bound["Y"].GetTensorDataAsSpan<float>().ToArray());
            kept = bound.Detach("Y");
            Assert.Throws<InvalidOperationException>(() => bound.Detach("Y"));
        }
        using (kept) Assert.Equal(expected, kept.GetTensorDataAsSpan<float>().ToArray()); // still alive after the outputs were disposed
    }
}
