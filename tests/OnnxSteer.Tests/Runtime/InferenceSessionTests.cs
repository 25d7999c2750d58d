using Onnx;
using OnnxSteer.Runtime;
using Xunit;

namespace OnnxSteer.Tests.Runtime;

public class InferenceSessionTests
{
    [Fact]
    public void MatMulAdd_MatchesManagedComputation()
    {
        var path = TinyModels.WriteTemp(TinyModels.MatMulAdd());
        try
        {
            using var session = new InferenceSession(path);
            var rng = new Random(7);
            float[] a = Enumerable.Range(0, 2 * 3).Select(_ => (float)rng.NextDouble() * 2 - 1).ToArray();
            float[] b = Enumerable.Range(0, 3 * 4).Select(_ => (float)rng.NextDouble() * 2 - 1).ToArray();
            float[] c = Enumerable.Range(0, 4).Select(_ => (float)rng.NextDouble()).ToArray();
            using var va = OrtValue.CreateTensorValueFromMemory(a, [2, 3]);
            using var vb = OrtValue.CreateTensorValueFromMemory(b, [3, 4]);
            using var vc = OrtValue.CreateTensorValueFromMemory(c, [4]);
            using var outputs = session.Run(new Dictionary<string, OrtValue> { ["A"] = va, ["B"] = vb, ["C"] = vc }, ["Y"]);

            var y = outputs["Y"];
            Assert.Equal(new long[] { 2, 4 }, y.Shape);
            Assert.Equal(TensorElementType.Float, y.ElementType);
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
    public void Metadata_GivesNamesTypesAndSymbolicDims()
    {
        using var session = new InferenceSession(TinyModels.MatMulAdd());
        Assert.Equal(new[] { "A", "B", "C" }, session.InputNames);
        Assert.Equal(new[] { "Y" }, session.OutputNames);
        var a = session.InputMetadata["A"];
        Assert.Equal(TensorElementType.Float, a.ElementType);
        Assert.Equal(new long[] { -1, 3 }, a.Dimensions);
        Assert.Equal(new[] { "batch", "" }, a.SymbolicDimensions);
        Assert.Equal("[batch,3]", a.ShapeText);
        Assert.Equal(new long[] { -1, 4 }, session.OutputMetadata["Y"].Dimensions);
    }

    [Theory]
    [InlineData(TensorProto.Types.DataType.Float)]
    [InlineData(TensorProto.Types.DataType.Float16)]
    [InlineData(TensorProto.Types.DataType.Bfloat16)]
    [InlineData(TensorProto.Types.DataType.Int64)]
    [InlineData(TensorProto.Types.DataType.Int32)]
    [InlineData(TensorProto.Types.DataType.Int8)]
    [InlineData(TensorProto.Types.DataType.Uint8)]
    [InlineData(TensorProto.Types.DataType.Bool)]
    public void Identity_RoundTripsEveryElementType(TensorProto.Types.DataType type)
    {
        using var session = new InferenceSession(TinyModels.Identity(type));
        switch (type)
        {
            case TensorProto.Types.DataType.Float: RoundTrip(session, new[] { 1.5f, -2f, float.MaxValue }, TensorElementType.Float); break;
            case TensorProto.Types.DataType.Float16: RoundTrip(session, new[] { (Half)1.5f, (Half)(-0.001f), Half.MaxValue }, TensorElementType.Float16); break;
            case TensorProto.Types.DataType.Bfloat16: RoundTrip(session, new[] { (BFloat16)3.25f, (BFloat16)(-1e20f) }, TensorElementType.BFloat16); break;
            case TensorProto.Types.DataType.Int64: RoundTrip(session, new[] { long.MinValue, 0L, long.MaxValue }, TensorElementType.Int64); break;
            case TensorProto.Types.DataType.Int32: RoundTrip(session, new[] { int.MinValue, 7, int.MaxValue }, TensorElementType.Int32); break;
            case TensorProto.Types.DataType.Int8: RoundTrip(session, new sbyte[] { -128, 0, 127 }, TensorElementType.Int8); break;
            case TensorProto.Types.DataType.Uint8: RoundTrip(session, new byte[] { 0, 128, 255 }, TensorElementType.UInt8); break;
            case TensorProto.Types.DataType.Bool: RoundTrip(session, new[] { true, false, true, true }, TensorElementType.Bool); break;
        }
    }

    private static void RoundTrip<T>(InferenceSession session, T[] data, TensorElementType type) where T : unmanaged
    {
        Assert.Equal(type, session.InputMetadata["X"].ElementType);
        using var x = OrtValue.CreateTensorValueFromMemory(data, [data.Length]);
        Assert.Equal(type, x.ElementType);
        using var outputs = session.Run(new Dictionary<string, OrtValue> { ["X"] = x });
        Assert.Equal(type, outputs[0].ElementType);
        Assert.Equal(data, outputs[0].GetTensorDataAsSpan<T>().ToArray());
    }

    [Fact]
    public void TensorOverManagedMemory_IsNotCopied()
    {
        using var session = new InferenceSession(TinyModels.Double());
        var data = new float[] { 1, 2, 3 };
        using var x = OrtValue.CreateTensorValueFromMemory(data, [3]);
        data[1] = 10; // visible to ORT: the array itself is the tensor's memory
        using var outputs = session.Run(new Dictionary<string, OrtValue> { ["X"] = x });
        Assert.Equal(new float[] { 2, 20, 6 }, outputs[0].GetTensorDataAsSpan<float>().ToArray());
    }

    [Fact]
    public void Float16Output_WidensToFloat()
    {
        using var session = new InferenceSession(TinyModels.Identity(TensorProto.Types.DataType.Float16));
        var data = new[] { (Half)0.5f, (Half)(-3.75f), (Half)65504f };
        using var x = OrtValue.CreateTensorValueFromMemory(data, [3]);
        using var outputs = session.Run(new Dictionary<string, OrtValue> { ["X"] = x });
        Assert.Equal(new[] { 0.5f, -3.75f, 65504f }, outputs[0].ToFloatArray());
    }

    [Fact]
    public void EmptyTensor_IsAccepted()
    {
        using var session = new InferenceSession(TinyModels.Double());
        using var x = OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [0]);
        using var outputs = session.Run(new Dictionary<string, OrtValue> { ["X"] = x });
        Assert.Equal(new long[] { 0 }, outputs[0].Shape);
        Assert.Equal(0, outputs[0].GetTensorDataAsSpan<float>().Length);
    }

    [Fact]
    public void BadInputName_CarriesOrtMessage()
    {
        using var session = new InferenceSession(TinyModels.Double());
        using var x = OrtValue.CreateTensorValueFromMemory(new float[] { 1 }, [1]);
        var e = Assert.Throws<OrtException>(() => session.Run(new Dictionary<string, OrtValue> { ["Nope"] = x }));
        Assert.Equal(OrtErrorCode.InvalidArgument, e.ErrorCode);
        Assert.Contains("Nope", e.OrtMessage);
        Assert.Contains("Invalid input name", e.OrtMessage);
        Assert.IsAssignableFrom<RuntimeUnavailableException>(e);
    }

    [Fact]
    public void WrongShape_CarriesOrtMessage()
    {
        using var session = new InferenceSession(TinyModels.MatMulAdd());
        using var a = OrtValue.CreateTensorValueFromMemory(new float[4], [2, 2]); // B expects 3 rows
        using var b = OrtValue.CreateTensorValueFromMemory(new float[12], [3, 4]);
        using var c = OrtValue.CreateTensorValueFromMemory(new float[4], [4]);
        var e = Assert.Throws<OrtException>(() => session.Run(new Dictionary<string, OrtValue> { ["A"] = a, ["B"] = b, ["C"] = c }));
        Assert.Equal(OrtErrorCode.InvalidArgument, e.ErrorCode);
        Assert.Contains("invalid dimensions", e.OrtMessage, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("A", e.OrtMessage);
    }

    [Fact]
    public void WrongElementType_IsRejectedBeforeReading()
    {
        using var x = OrtValue.CreateTensorValueFromMemory(new float[] { 1 }, [1]);
        Assert.Throws<InvalidOperationException>(() => x.GetTensorDataAsSpan<long>().ToArray());
        Assert.Throws<ArgumentException>(() => OrtValue.CreateTensorValueFromMemory(new float[3], [2, 2]));
    }

    [Fact]
    public void GarbageModel_CarriesOrtMessage()
    {
        var e = Assert.Throws<OrtException>(() => new InferenceSession(new byte[] { 1, 2, 3, 4, 5 }));
        Assert.NotEqual(OrtErrorCode.Ok, e.ErrorCode);
        Assert.False(string.IsNullOrWhiteSpace(e.OrtMessage));
    }

    [Fact]
    public void TerminatedRunOptions_StopTheRun()
    {
        using var session = new InferenceSession(TinyModels.Double());
        using var x = OrtValue.CreateTensorValueFromMemory(new float[] { 1 }, [1]);
        using var runOptions = new RunOptions();
        runOptions.Terminate();
        var e = Assert.Throws<OrtException>(() => session.Run(new Dictionary<string, OrtValue> { ["X"] = x }, runOptions));
        Assert.Contains("terminat", e.OrtMessage, StringComparison.OrdinalIgnoreCase);
        runOptions.ResetTerminate();
        using var outputs = session.Run(new Dictionary<string, OrtValue> { ["X"] = x }, runOptions);
        Assert.Equal(2f, outputs[0].GetTensorDataAsSpan<float>()[0]);
    }

    [Fact]
    public void IoBinding_GivesTheSameResultAsRun()
    {
        using var session = new InferenceSession(TinyModels.MatMulAdd());
        var a = new float[] { 1, 2, 3, 4, 5, 6 };
        var b = Enumerable.Range(0, 12).Select(i => (float)i / 7).ToArray();
        var c = new float[] { 0.5f, -0.5f, 1, -1 };
        using var va = OrtValue.CreateTensorValueFromMemory(a, [2, 3]);
        using var vb = OrtValue.CreateTensorValueFromMemory(b, [3, 4]);
        using var vc = OrtValue.CreateTensorValueFromMemory(c, [4]);
        using var viaRun = session.Run(new Dictionary<string, OrtValue> { ["A"] = va, ["B"] = vb, ["C"] = vc });

        using var binding = session.CreateIoBinding();
        binding.BindInput("A", va);
        binding.BindInput("B", vb);
        binding.BindInput("C", vc);
        binding.BindOutputToDevice("Y", OrtMemoryInfo.DefaultInstance);
        session.RunWithBinding(binding);
        using var bound = binding.GetOutputValues();
        Assert.Equal(new[] { "Y" }, bound.Names);
        Assert.Equal(viaRun[0].GetTensorDataAsSpan<float>().ToArray(), bound[0].GetTensorDataAsSpan<float>().ToArray());

        // A preallocated output is written in place.
        var yBuffer = new float[8];
        using var vy = OrtValue.CreateTensorValueFromMemory(yBuffer, [2, 4]);
        binding.ClearBoundOutputs();
        binding.BindOutput("Y", vy);
        session.RunWithBinding(binding);
        Assert.Equal(viaRun[0].GetTensorDataAsSpan<float>().ToArray(), yBuffer);
    }

    [Fact]
    public void BFloat16_RoundsToNearestEven()
    {
        Assert.Equal(1f, (float)(BFloat16)1f);
        // 1 + 2^-8 lies exactly halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
        Assert.Equal(1f, (float)(BFloat16)(1f + MathF.Pow(2, -8)));
        // 1 + 3*2^-8 is halfway between 1+2^-7 and 1+2^-6: goes to the even one, 1+2^-6.
        Assert.Equal(1f + MathF.Pow(2, -6), (float)(BFloat16)(1f + 3 * MathF.Pow(2, -8)));
        Assert.True(float.IsNaN((float)(BFloat16)float.NaN));
        Assert.Equal(0x3F80, ((BFloat16)1f).Bits);
    }
}
