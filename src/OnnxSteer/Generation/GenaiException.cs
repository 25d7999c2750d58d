using Microsoft.ML.OnnxRuntimeGenAI;

namespace OnnxSteer.Generation;

/// <summary>
/// An error onnxruntime-genai reported (an <see cref="OnnxRuntimeGenAIException"/>) while <see cref="GenaiHost"/> opened
/// or ran a model, prefixed by the model folder; genai's own message is kept in <see cref="GenaiMessage"/>.
/// </summary>
public sealed class GenaiException : OnnxSteerException
{
    /// <summary>onnxruntime-genai's own message, trimmed.</summary>
    public string GenaiMessage { get; }

    /// <summary>Wraps <paramref name="inner"/>, reported for the model folder <paramref name="folder"/>.</summary>
    public GenaiException(string folder, OnnxRuntimeGenAIException inner)
        : base($"{folder}: onnxruntime-genai: {inner.Message.Trim()}", inner) => GenaiMessage = inner.Message.Trim();
}
