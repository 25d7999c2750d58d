using Microsoft.ML.OnnxRuntime;

namespace OnnxSteer.Runtime;

/// <summary>
/// An error ONNX Runtime reported while the runtime itself works (an <see cref="OnnxRuntimeException"/> from
/// Microsoft.ML.OnnxRuntime: a model it cannot open, a run it refuses), ORT's message kept. Not a
/// <see cref="RuntimeUnavailableException"/>: that one means the runtime cannot be loaded or used at all.
/// </summary>
public class OrtException : OnnxSteerException
{
    /// <summary>ORT's own message, unchanged.</summary>
    public string OrtMessage { get; }

    /// <summary>Wraps <paramref name="inner"/>, prefixed by <paramref name="context"/> (e.g. the model file) when given.</summary>
    public OrtException(OnnxRuntimeException inner, string? context = null)
        : base(context is null ? $"ONNX Runtime: {inner.Message}" : $"{context}: ONNX Runtime: {inner.Message}", inner)
    {
        OrtMessage = inner.Message;
    }

    /// <summary>Runs <paramref name="call"/>, turning an <see cref="OnnxRuntimeException"/> into an <see cref="OrtException"/>.</summary>
    internal static T Wrap<T>(Func<T> call, string? context = null)
    {
        try { return call(); }
        catch (OnnxRuntimeException e) { throw new OrtException(e, context); }
    }
}

/// <summary>An execution provider (e.g. CUDA) could not be added to a session.</summary>
public sealed class ExecutionProviderUnavailableException(ErrorText message, Exception? inner = null)
    : RuntimeUnavailableException(message, inner);
