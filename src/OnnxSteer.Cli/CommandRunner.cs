using System.CommandLine;

namespace OnnxSteer.Cli;

/// <summary>
/// Runs a command body with the tool's error contract: an <see cref="OnnxSteerException"/> becomes one line on stderr
/// and its exit code; anything else is a bug and is reported as such (stack trace only with --verbose).
/// </summary>
public static class CommandRunner
{
    /// <summary>Global <c>--verbose</c>: print stack traces for errors.</summary>
    public static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "Print full error details (stack traces) when something fails.",
        Recursive = true,
    };

    /// <summary>Runs <paramref name="body"/> and maps failures to exit codes.</summary>
    public static int Run(ParseResult parse, Func<int> body)
    {
        var verbose = parse.GetValue(Verbose);
        try
        {
            return body();
        }
        catch (OnnxSteerException e)
        {
            Console.Error.WriteLine($"onnxsteer: error: {e.Message}");
            if (verbose) Console.Error.WriteLine(e);
            return e.ExitCode;
        }
        catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException e)
        {
            // Runs go through OrtException; this catches ORT errors from any other call, with ORT's message and exit 4.
            Console.Error.WriteLine($"onnxsteer: error: ONNX Runtime: {e.Message.ReplaceLineEndings(" ")}");
            if (verbose) Console.Error.WriteLine(e);
            return ExitCodes.Runtime;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("onnxsteer: interrupted");
            return ExitCodes.Interrupted;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var (line, code) = IoErrors.Describe(e);
            Console.Error.WriteLine($"onnxsteer: error: {line}");
            if (verbose) Console.Error.WriteLine(e);
            return code;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"onnxsteer: internal error: {e.GetType().Name}: {e.Message} (this is a bug; --verbose shows details)");
            if (verbose) Console.Error.WriteLine(e);
            return ExitCodes.Failure;
        }
    }
}
