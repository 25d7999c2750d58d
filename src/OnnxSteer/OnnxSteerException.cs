namespace OnnxSteer;

/// <summary>
/// The tool's own error: a problem with the user's input or environment, reported as one line and an exit code.
/// Anything else escaping the tool is a bug.
/// </summary>
public class OnnxSteerException : Exception
{
    /// <summary>Exit code the CLI returns for this error (see README, "Exit codes").</summary>
    public int ExitCode { get; }

    /// <summary>An error reported as <paramref name="message"/> (one line) with <paramref name="exitCode"/>.</summary>
    public OnnxSteerException(string message, int exitCode = ExitCodes.Failure, Exception? inner = null)
        : base(message, inner) => ExitCode = exitCode;
}

/// <summary>A model file that cannot be read, is malformed, or is unsafe (e.g. external data outside its folder).</summary>
public class InvalidModelException(string message, Exception? inner = null)
    : OnnxSteerException(message, ExitCodes.InvalidInput, inner);

/// <summary>A profile or pairs file that cannot be used.</summary>
public class InvalidProfileException(string message, Exception? inner = null)
    : OnnxSteerException(message, ExitCodes.InvalidInput, inner);

/// <summary>The ONNX Runtime library could not be loaded or reported an error.</summary>
public class RuntimeUnavailableException(string message, Exception? inner = null)
    : OnnxSteerException(message, ExitCodes.Runtime, inner);

/// <summary>Process exit codes, documented in the README.</summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Success = 0;
    /// <summary>diff: the models differ.</summary>
    public const int Different = 1;
    /// <summary>Generic failure.</summary>
    public const int Failure = 2;
    /// <summary>Bad input file: model, profile, pairs, tokenizer.</summary>
    public const int InvalidInput = 3;
    /// <summary>ONNX Runtime missing or failed.</summary>
    public const int Runtime = 4;
    /// <summary>Bad command line (unknown option, missing argument).</summary>
    public const int Usage = 64;
    /// <summary>Interrupted by Ctrl-C.</summary>
    public const int Interrupted = 130;
}
