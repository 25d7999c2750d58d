namespace OnnxSteer.Cli;

/// <summary>
/// An error the CLI itself finds (options that contradict each other, a value out of range, an output in the way):
/// already in command-line terms, with the exit code it needs (usage, 64, unless told).
/// </summary>
public sealed class CommandLineException(ErrorText message, int exitCode = ExitCodes.Usage, Exception? inner = null)
    : OnnxSteerException(message, inner)
{
    /// <summary>The exit code the command returns.</summary>
    public int ExitCode { get; } = exitCode;
}
