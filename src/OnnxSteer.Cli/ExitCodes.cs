namespace OnnxSteer.Cli;

/// <summary>Process exit codes of <c>onnxsteer</c> (docs/errors.md, README "Exit codes").</summary>
public static class ExitCodes
{
    public const int Success = 0;
    /// <summary>diff: the models differ.</summary>
    public const int Different = 1;
    /// <summary>Generic failure: I/O, or an internal error.</summary>
    public const int Failure = 2;
    /// <summary>Bad input file: model, profile, pairs, tokenizer.</summary>
    public const int InvalidInput = 3;
    /// <summary>ONNX Runtime missing or failed.</summary>
    public const int Runtime = 4;
    /// <summary>Bad command line (unknown option, missing argument, a value out of range).</summary>
    public const int Usage = 64;
    /// <summary>Interrupted by Ctrl-C.</summary>
    public const int Interrupted = 130;
}
