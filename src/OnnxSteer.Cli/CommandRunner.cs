using System.CommandLine;

namespace OnnxSteer.Cli;

/// <summary>
/// Runs a command body with the tool's error contract, which <see cref="ErrorReporter"/> keeps: one line on stderr and
/// the exit code for what went wrong (stack trace only with --verbose).
/// </summary>
public static class CommandRunner
{
    /// <summary>Global <c>--verbose</c>: print stack traces for errors.</summary>
    public static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "Print full error details (stack traces) when something fails.",
        Recursive = true,
    };

    /// <summary>Runs <paramref name="handler"/> on the process's streams and maps failures to exit codes.</summary>
    public static int Run(ParseResult parse, Func<CommandIo, int> handler)
    {
        try
        {
            return handler(CommandIo.Process());
        }
        catch (Exception e)
        {
            return ErrorReporter.Report(e, parse.GetValue(Verbose));
        }
    }
}
