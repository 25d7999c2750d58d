namespace OnnxSteer;

/// <summary>
/// The library's own error: a problem with the caller's input, arguments or environment, in one line that names the
/// file or parameter and the problem. Subclasses say what went wrong; none knows how a front end reports it (the CLI
/// maps them to exit codes and flags in one place, OnnxSteer.Cli's ErrorReporter). Anything else escaping is a bug.
/// </summary>
public class OnnxSteerException : Exception
{
    /// <summary>The message with its parameter mentions kept, for a front end to render in its own terms.</summary>
    public ErrorText Text { get; }

    /// <summary>An error reported as <paramref name="message"/> (one line), caused by <paramref name="inner"/> if given.</summary>
    public OnnxSteerException(ErrorText message, Exception? inner = null)
        : base(message.ToString(), inner) => Text = message;
}

/// <summary>
/// An input that cannot be used: a model, profile, pairs, data, tokenizer or GGUF file (or text in one) that is missing,
/// malformed, empty, unsafe or of the wrong kind.
/// </summary>
public class InvalidInputException(ErrorText message, Exception? inner = null) : OnnxSteerException(message, inner);

/// <summary>A model file that cannot be read, is malformed, or is unsafe (e.g. external data outside its folder).</summary>
public class InvalidModelException(ErrorText message, Exception? inner = null) : InvalidInputException(message, inner);

/// <summary>A profile or pairs file that cannot be used.</summary>
public class InvalidProfileException(ErrorText message, Exception? inner = null) : InvalidInputException(message, inner);

/// <summary>
/// An argument out of range, of the wrong form, or contradicting another: <see cref="ParamName"/> is the C# name of the
/// parameter (or settings property) at fault, and the message mentions it by that name.
/// </summary>
public class InvalidParameterException(string parameterName, ErrorText message, Exception? inner = null)
    : OnnxSteerException(message, inner)
{
    /// <summary>The parameter at fault, e.g. <c>alpha</c>.</summary>
    public string ParamName { get; } = parameterName;
}

/// <summary>
/// ONNX Runtime cannot be used: its native library is missing or cannot be loaded, another one is already loaded, or an
/// execution provider (CUDA) cannot be added. An error ORT reports while working is an <c>OnnxSteer.Runtime.OrtException</c>.
/// </summary>
public class RuntimeUnavailableException(ErrorText message, Exception? inner = null) : OnnxSteerException(message, inner);
