using Google.Protobuf;
using Onnx;
using OnnxSteer.Runtime;

namespace OnnxSteer.Tests.Patching;

/// <summary>Runs models through ONNX Runtime for the patching tests, optionally exposing inner values as outputs.</summary>
internal static class OrtHarness
{
    /// <summary>
    /// Runs <paramref name="model"/> (external data relative to <paramref name="folder"/>) with the given inputs and returns
    /// the requested values as float arrays. Values that are not graph outputs are added as outputs in a copy of the model
    /// (typed with <paramref name="elementType"/>), so a test can read the activation arriving at a projection.
    /// </summary>
    public static Dictionary<string, float[]> Run(ModelProto model, string? folder, IReadOnlyDictionary<string, OrtValue> inputs,
        IReadOnlyList<string> wanted, int elementType)
    {
        var copy = model.Clone();
        foreach (var name in wanted)
            if (copy.Graph.Output.All(o => o.Name != name))
                copy.Graph.Output.Add(new ValueInfoProto
                {
                    Name = name,
                    Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType } },
                });
        using var session = RuntimeSettings.Default.OpenSession(copy.ToByteArray(), folder);
        using var outputs = session.RunNamed(inputs, wanted);
        return wanted.ToDictionary(n => n, n => outputs[n].ToFloatArray());
    }

    /// <summary>An input tensor of the given element type from float values.</summary>
    public static OrtValue Tensor(float[] values, long[] shape, int elementType) => elementType switch
    {
        (int)TensorProto.Types.DataType.Float => OrtValue.CreateTensorValueFromMemory(values.ToArray(), shape),
        (int)TensorProto.Types.DataType.Float16 => OrtValue.CreateTensorValueFromMemory(values.Select(v => (Float16)v).ToArray(), shape),
        _ => throw new ArgumentOutOfRangeException(nameof(elementType)),
    };

    /// <summary>Seeded random values in [-1, 1).</summary>
    public static float[] Random(int count, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    /// <summary>Largest |a − b| relative to the largest |a| (a scale-free closeness for logits).</summary>
    public static double MaxRelativeDifference(float[] a, float[] b)
    {
        var scale = a.Max(x => Math.Abs((double)x));
        return a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max() / Math.Max(scale, 1e-30);
    }
}
