using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace OnnxSteer.Runtime;

/// <summary>
/// What OnnxSteer adds to Microsoft.ML.OnnxRuntime's types: runs whose outputs are found by name (and may be detached,
/// e.g. a KV cache), ORT errors as <see cref="OrtException"/>, and a tensor's type, shape and float contents.
/// </summary>
internal static class OrtExtensions
{
    // ORT's Run wants run options; one shared default instance (never terminated) serves callers that pass none.
    private static readonly Lazy<RunOptions> DefaultRunOptions = new(() => { OrtLibrary.EnsureLoaded(); return new RunOptions(); });

    /// <summary>Runs with parallel lists of input names and values; returns the outputs named in <paramref name="outputNames"/>.</summary>
    public static RunOutputs RunNamed(this InferenceSession session, IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputValues,
        IReadOnlyList<string> outputNames, RunOptions? runOptions = null)
    {
        if (inputNames.Count != inputValues.Count)
            throw new ArgumentException($"{inputNames.Count} input names but {inputValues.Count} values");
        var values = OrtException.Wrap(() => session.Run(runOptions ?? DefaultRunOptions.Value, inputNames.ToArray(), inputValues.ToArray(), outputNames.ToArray()));
        return new RunOutputs(outputNames.ToArray(), values);
    }

    /// <summary>Runs with inputs by name; returns the outputs named in <paramref name="outputNames"/> (all, when null).</summary>
    public static RunOutputs RunNamed(this InferenceSession session, IReadOnlyDictionary<string, OrtValue> inputs,
        IReadOnlyList<string>? outputNames = null, RunOptions? runOptions = null) =>
        session.RunNamed(inputs.Keys.ToArray(), inputs.Values.ToArray(), outputNames ?? session.OutputNames, runOptions);

    /// <summary>Runs with the inputs and outputs bound in <paramref name="binding"/>; returns the outputs in binding order.</summary>
    public static RunOutputs RunBound(this InferenceSession session, OrtIoBinding binding, IReadOnlyList<string> boundOutputNames, RunOptions? runOptions = null)
    {
        OrtException.Wrap(() => { session.RunWithBinding(runOptions ?? DefaultRunOptions.Value, binding); return 0; });
        return new RunOutputs(boundOutputNames, OrtException.Wrap(binding.GetOutputValues));
    }

    /// <summary>The tensor's element type.</summary>
    public static TensorElementType ElementType(this OrtValue value) => value.GetTensorTypeAndShape().ElementDataType;

    /// <summary>The tensor's shape.</summary>
    public static long[] Shape(this OrtValue value) => value.GetTensorTypeAndShape().Shape;

    /// <summary>A declared shape as text, symbolic names in place of -1: e.g. [batch_size,1,past_sequence_length,16].</summary>
    public static string ShapeText(this NodeMetadata meta) =>
        "[" + string.Join(",", meta.Dimensions.Select((d, i) =>
            d >= 0 ? d.ToString() : i < meta.SymbolicDimensions.Length && meta.SymbolicDimensions[i] is { Length: > 0 } s ? s : "?")) + "]";

    /// <summary>The tensor's contents as a float array, widening float16 and bfloat16 (logits of fp16 models).</summary>
    public static float[] ToFloatArray(this OrtValue value)
    {
        switch (value.ElementType())
        {
            case TensorElementType.Float:
                return value.GetTensorDataAsSpan<float>().ToArray();
            case TensorElementType.Float16:
                return Widen(value.GetTensorDataAsSpan<Float16>(), h => (float)h);
            case TensorElementType.BFloat16:
                return Widen(value.GetTensorDataAsSpan<BFloat16>(), b => (float)b);
            default:
                throw new InvalidOperationException($"the tensor holds {value.ElementType()}, not a floating-point type");
        }
    }

    /// <summary>Copies <paramref name="count"/> elements from <paramref name="start"/> into floats, widening float16 and bfloat16.</summary>
    public static float[] ReadFloats(this OrtValue value, int start, int count) => value.ElementType() switch
    {
        TensorElementType.Float => value.GetTensorDataAsSpan<float>().Slice(start, count).ToArray(),
        TensorElementType.Float16 => Widen(value.GetTensorDataAsSpan<Float16>().Slice(start, count), h => (float)h),
        TensorElementType.BFloat16 => Widen(value.GetTensorDataAsSpan<BFloat16>().Slice(start, count), b => (float)b),
        var t => throw new InvalidModelException($"the tensor holds {t}; expected float, float16 or bfloat16"),
    };

    private static float[] Widen<T>(ReadOnlySpan<T> src, Func<T, float> widen)
    {
        var dst = new float[src.Length];
        for (var i = 0; i < src.Length; i++) dst[i] = widen(src[i]);
        return dst;
    }
}
