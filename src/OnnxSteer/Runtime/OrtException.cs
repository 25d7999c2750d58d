namespace OnnxSteer.Runtime;

/// <summary>An error reported by ONNX Runtime (a non-null OrtStatus): carries ORT's error code and message.</summary>
public class OrtException : RuntimeUnavailableException
{
    /// <summary>ORT's error code.</summary>
    public OrtErrorCode ErrorCode { get; }

    /// <summary>ORT's own message, unchanged.</summary>
    public string OrtMessage { get; }

    public OrtException(OrtErrorCode code, string ortMessage, string? context = null)
        : base(context is null ? $"ONNX Runtime: [{code}] {ortMessage}" : $"{context}: ONNX Runtime: [{code}] {ortMessage}")
    {
        ErrorCode = code;
        OrtMessage = ortMessage;
    }
}

/// <summary>An execution provider (e.g. CUDA) could not be added to a session.</summary>
public sealed class ExecutionProviderUnavailableException(string message, OrtException? inner = null)
    : RuntimeUnavailableException(message, inner);
