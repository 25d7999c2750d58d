using Microsoft.ML.OnnxRuntime;

namespace OnnxSteer.Cli;

/// <summary>
/// The one place where the library's messages become what the user sees: an exception becomes one line on stderr
/// (library parameters written as this CLI's options) and the exit code for what went wrong; a warning or note is
/// written with the same options. The library's messages know nothing of either.
/// </summary>
public static class ErrorReporter
{
    /// <summary>
    /// The option each library parameter is given by (keys: the C# names <see cref="ErrorText"/> mentions and
    /// <see cref="InvalidParameterException.ParamName"/> carries). A parameter missing here is printed under its own
    /// name, which a test rules out.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Options { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["alpha"] = "--alpha", ["alphas"] = "--alpha", ["strength"] = "--strength",
        ["k"] = "--k", ["ks"] = "--k",
        ["sites"] = "--sites", ["siteKinds"] = "--sites", ["layers"] = "--layers", ["method"] = "--method",
        ["tieBreak"] = "--tie-break", ["direction"] = "--direction", ["shard"] = "--shard",
        ["task"] = "--task", ["mode"] = "--mode", ["offset"] = "--offset", ["limit"] = "--limit", ["skip"] = "--skip",
        ["skipBad"] = "--skip-bad", ["pairs"] = "--pairs", ["checkPairs"] = "--check-pairs",
        ["validation"] = "--val", ["test"] = "--test", ["maxFluencyDrop"] = "--max-fluency-drop",
        ["device"] = "--device", ["deviceId"] = "--device-id", ["threads"] = "--threads", ["ortLibrary"] = "--ort-library",
        ["maxNewTokens"] = "--max-new-tokens", ["temperature"] = "--temperature", ["topK"] = "--top-k", ["topP"] = "--top-p",
        ["maxTokens"] = "--max-tokens", ["prompt"] = "--prompt", ["promptIds"] = "--prompt", ["format"] = "--format", ["vocab"] = "--vocab",
        ["style"] = "--style", ["dtype"] = "--dtype", ["output"] = "-o",
        ["force"] = "--force", ["fold"] = "--fold", ["switchable"] = "--switchable", ["dynamic"] = "--dynamic",
        ["probes"] = "--probes", ["probeData"] = "--probe-data", ["probeNeutral"] = "--probe-neutral", ["probePca"] = "--probe-pca", ["probePooling"] = "--probe-pooling", ["batchSize"] = "--batch-size", ["resume"] = "--resume",
        ["ignoreMemoryEstimate"] = "--ignore-memory-estimate", ["probeThreshold"] = "--probe-threshold", ["gatesFrom"] = "--gates-from", ["replace"] = "--replace", ["stack"] = "--stack",
        ["json"] = "--json", ["host"] = "--host", ["port"] = "--port", ["apiKey"] = "--api-key", ["profiles"] = "--profile",
        ["methods"] = "--methods", ["caaAlphas"] = "--caa-alpha", ["variant"] = "--variant",
    };

    /// <summary>The option for library parameter <paramref name="parameter"/>, or the name itself when none is known.</summary>
    public static string Option(string parameter) => Options.GetValueOrDefault(parameter, parameter);

    /// <summary>The one-line message of <paramref name="e"/> in command-line terms (without the "onnxsteer: error: ").</summary>
    public static string Message(OnnxSteerException e) => Render(e.Text);

    /// <summary>A library message (an error, a warning, a note) in command-line terms: parameters written as options.</summary>
    public static string Render(LibraryText text) => text.Render(Option);

    /// <summary>Writes a library warning or note to stderr in command-line terms: the CLI's notice callback.</summary>
    public static void Notice(WarningText line) => Console.Error.WriteLine(Render(line));

    /// <inheritdoc cref="Notice(WarningText)"/>
    public static void Notice(LibraryText line) => Console.Error.WriteLine(Render(line));

    /// <summary>The exit code for an <see cref="OnnxSteerException"/>: by what went wrong.</summary>
    public static int ExitCode(OnnxSteerException e) => e switch
    {
        CommandLineException c => c.ExitCode,
        InvalidParameterException => ExitCodes.Usage,
        InvalidInputException => ExitCodes.InvalidInput,
        RuntimeUnavailableException or Runtime.OrtException => ExitCodes.Runtime,
        Generation.GenaiException => ExitCodes.Runtime,
        _ => ExitCodes.Failure,
    };

    /// <summary>Writes <paramref name="e"/> to stderr as the error contract says and returns the exit code.</summary>
    /// <param name="verbose">Also print the stack trace.</param>
    public static int Report(Exception e, bool verbose)
    {
        var (line, code) = e switch
        {
            OnnxSteerException s => ($"onnxsteer: error: {Message(s)}", ExitCode(s)),
            // Runs go through OrtException; this catches ORT errors from any other call, with ORT's message and exit 4.
            OnnxRuntimeException o => ($"onnxsteer: error: ONNX Runtime: {o.Message.ReplaceLineEndings(" ")}", ExitCodes.Runtime),
            ProfileRuns.ProfileInterruptedException p => (p.Checkpoint is { } kept
                ? $"onnxsteer: interrupted after {p.PairsDone} of {p.PairsTotal} pairs: {p.PairsKept} are kept in {kept}; run the same command with --resume to go on from there"
                : $"onnxsteer: interrupted after {p.PairsDone} of {p.PairsTotal} pairs; nothing was kept (--checkpoint-every N keeps the work as it goes)", ExitCodes.Interrupted),
            OperationCanceledException => ("onnxsteer: interrupted", ExitCodes.Interrupted),
            IOException or UnauthorizedAccessException => IoLine(e),
            _ => ($"onnxsteer: internal error: {e.GetType().Name}: {e.Message} (this is a bug; --verbose shows details)", ExitCodes.Failure),
        };
        Console.Error.WriteLine(line);
        if (verbose && e is not OperationCanceledException) Console.Error.WriteLine(e);
        return code;
    }

    private static (string, int) IoLine(Exception e)
    {
        var (line, code) = IoErrors.Describe(e);
        return ($"onnxsteer: error: {line}", code);
    }
}
