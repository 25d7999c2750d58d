using System.Runtime.InteropServices;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Runtime;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.ModelFiles;

/// <summary>
/// ONNX Runtime must compute bit-identical outputs before and after our round trip (inline, and all initializers moved
/// to external data) on the test inputs libonnx-testdata ships with each model.
/// </summary>
public sealed class OrtRoundTripTests(ITestOutputHelper output) : IDisposable
{
    private const int SampleSize = 30;
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [LibOnnxFact]
    public void RuntimeOutputsAreIdenticalAfterRoundTrips()
    {
        // Models with initializers first (they exercise external data), then the rest; sorted, so the sample is fixed.
        var candidates = LibOnnxRoundTripTests.ModelFiles()
            .Select(f => (File: f, Model: OnnxModel.Load(f)))
            .Where(c => Directory.Exists(Path.Combine(Path.GetDirectoryName(c.File)!, "test_data_set_0")) && AllTensors(c.Model.Graph))
            .OrderBy(c => c.Model.Graph.Initializer.Count == 0)
            .ThenBy(c => c.File, StringComparer.Ordinal)
            .ToList();
        int ran = 0, withInitializers = 0, outputsCompared = 0;
        var notRunnable = new List<string>();
        var failures = new List<string>();
        foreach (var (file, model) in candidates)
        {
            if (ran == SampleSize) break;
            var inputs = ReadInputs(file, model);
            byte[][] expected;
            try { expected = Run(file, inputs); }
            catch (OrtException e)
            {
                notRunnable.Add($"{Path.GetRelativePath(LibOnnxRoundTripTests.DataRoot, file)}: {e.Message.Split('\n')[0]}");
                continue; // ONNX Runtime cannot run the original: nothing to compare
            }
            ran++;
            if (model.Graph.Initializer.Count > 0) withInitializers++;
            var folder = Directory.CreateDirectory(Path.Combine(_temp.Path, ran.ToString())).FullName;
            var inline = Path.Combine(folder, "inline.onnx");
            var external = Path.Combine(folder, "external.onnx");
            new OnnxModel(model.Proto.Clone(), file).Save(inline);
            new OnnxModel(model.Proto.Clone(), file).Save(external, SaveOptions.External("external.data", threshold: 0));
            foreach (var path in new[] { inline, external })
            {
                var actual = Run(path, inputs);
                for (var i = 0; i < expected.Length; i++, outputsCompared++)
                    if (!expected[i].AsSpan().SequenceEqual(actual[i]))
                        failures.Add($"{file}: output {i} differs after saving {Path.GetFileName(path)}");
            }
        }
        foreach (var n in notRunnable) output.WriteLine($"ONNX Runtime cannot run the original, skipped: {n}");
        output.WriteLine($"{ran} models run ({withInitializers} with initializers), {outputsCompared} outputs compared bit for bit");
        Assert.Empty(failures);
        Assert.Equal(SampleSize, ran);
        Assert.True(withInitializers >= 20, $"only {withInitializers} sampled models have initializers");
    }

    private static bool AllTensors(GraphProto graph) =>
        graph.Input.Concat(graph.Output).All(v => v.Type?.TensorType is { } t && IsSupported(t.ElemType));

    private static bool IsSupported(int type) => (TensorProto.Types.DataType)type is
        TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Double or TensorProto.Types.DataType.Float16
        or TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Int8
        or TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Bool or TensorProto.Types.DataType.Int16
        or TensorProto.Types.DataType.Uint16 or TensorProto.Types.DataType.Uint32 or TensorProto.Types.DataType.Uint64;

    /// <summary>The shipped test inputs, in the order of the graph inputs that are not initializers.</summary>
    private static List<(string Name, TensorProto Tensor)> ReadInputs(string file, OnnxModel model)
    {
        var folder = Path.Combine(Path.GetDirectoryName(file)!, "test_data_set_0");
        var initializers = model.Graph.Initializer.Select(t => t.Name).ToHashSet();
        var names = model.Graph.Input.Select(i => i.Name).Where(n => !initializers.Contains(n)).ToList();
        return names.Select((name, i) => (name, TensorProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(folder, $"input_{i}.pb"))))).ToList();
    }

    /// <summary>Runs the model file on the inputs; returns each output's bytes.</summary>
    private static byte[][] Run(string path, List<(string Name, TensorProto Tensor)> inputs)
    {
        using var session = RuntimeSettings.Default.OpenSession(path);
        var values = inputs.Select(i => ToOrtValue(i.Tensor, path)).ToList();
        try
        {
            using var outputs = session.RunNamed(inputs.Select(i => i.Name).ToList(), values, session.OutputNames);
            return outputs.Select(BytesOf).ToArray();
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    private static OrtValue ToOrtValue(TensorProto t, string source)
    {
        var bytes = TensorData.InlineBytes(t, source);
        var shape = t.Dims.ToArray();
        return (TensorProto.Types.DataType)t.DataType switch
        {
            TensorProto.Types.DataType.Float => Copy<float>(bytes, shape),
            TensorProto.Types.DataType.Double => Copy<double>(bytes, shape),
            TensorProto.Types.DataType.Float16 => Copy<Float16>(bytes, shape),
            TensorProto.Types.DataType.Int64 => Copy<long>(bytes, shape),
            TensorProto.Types.DataType.Int32 => Copy<int>(bytes, shape),
            TensorProto.Types.DataType.Int16 => Copy<short>(bytes, shape),
            TensorProto.Types.DataType.Uint16 => Copy<ushort>(bytes, shape),
            TensorProto.Types.DataType.Uint32 => Copy<uint>(bytes, shape),
            TensorProto.Types.DataType.Uint64 => Copy<ulong>(bytes, shape),
            TensorProto.Types.DataType.Int8 => Copy<sbyte>(bytes, shape),
            TensorProto.Types.DataType.Uint8 => Copy<byte>(bytes, shape),
            TensorProto.Types.DataType.Bool => Copy<bool>(bytes, shape),
            var other => throw new NotSupportedException($"{source}: input type {other}"),
        };
    }

    private static OrtValue Copy<T>(byte[] bytes, long[] shape) where T : unmanaged =>
        OrtValue.CreateTensorValueFromMemory(MemoryMarshal.Cast<byte, T>(bytes).ToArray(), shape);

    private static byte[] BytesOf(OrtValue v) => v.ElementType() switch
    {
        TensorElementType.Float => MemoryMarshal.AsBytes(v.GetTensorDataAsSpan<float>()).ToArray(),
        TensorElementType.Double => MemoryMarshal.AsBytes(v.GetTensorDataAsSpan<double>()).ToArray(),
        TensorElementType.Float16 => MemoryMarshal.AsBytes(v.GetTensorDataAsSpan<Float16>()).ToArray(),
        TensorElementType.Int64 => MemoryMarshal.AsBytes(v.GetTensorDataAsSpan<long>()).ToArray(),
        TensorElementType.Int32 => MemoryMarshal.AsBytes(v.GetTensorDataAsSpan<int>()).ToArray(),
        TensorElementType.Int16 => MemoryMarshal.AsBytes(v.GetTensorDataAsSpan<short>()).ToArray(),
        TensorElementType.UInt16 => MemoryMarshal.AsBytes(v.GetTensorDataAsSpan<ushort>()).ToArray(),
        TensorElementType.UInt32 => MemoryMarshal.AsBytes(v.GetTensorDataAsSpan<uint>()).ToArray(),
        TensorElementType.UInt64 => MemoryMarshal.AsBytes(v.GetTensorDataAsSpan<ulong>()).ToArray(),
        TensorElementType.Int8 => MemoryMarshal.AsBytes(v.GetTensorDataAsSpan<sbyte>()).ToArray(),
        TensorElementType.UInt8 => v.GetTensorDataAsSpan<byte>().ToArray(),
        TensorElementType.Bool => MemoryMarshal.AsBytes(v.GetTensorDataAsSpan<bool>()).ToArray(),
        var other => throw new NotSupportedException($"output type {other}"),
    };
}
