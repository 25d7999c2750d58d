using System.CommandLine;

namespace OnnxSteer.Cli.Options;

/// <summary>Options many commands share, declared once so that they read the same in every command's --help.</summary>
public static class CommonOptions
{
    /// <summary><c>-o</c>/<c>--output</c>: where the command writes.</summary>
    public static Option<string> Output(string description, string? helpName = null) =>
        new("--output", "-o") { Description = description, Required = true, HelpName = helpName };

    /// <summary><c>-o</c>/<c>--output</c> when writing is optional.</summary>
    public static Option<string?> OptionalOutput(string description, string? helpName = null) =>
        new("--output", "-o") { Description = description, HelpName = helpName };

    /// <summary><c>--force</c>: replace an existing output (the one output rule, docs/errors.md).</summary>
    public static Option<bool> Force() => OutputChecks.ForceOption();

    /// <summary><c>--tokenizer PATH</c>.</summary>
    public static Option<string?> Tokenizer(string description) => new("--tokenizer") { Description = description, HelpName = "PATH" };

    /// <summary><c>--json</c>: print JSON instead of text.</summary>
    public static Option<bool> Json(string description) => new("--json") { Description = description };

    /// <summary><c>-q</c>/<c>--quiet</c>: no progress output.</summary>
    public static Option<bool> Quiet() => new("--quiet", "-q") { Description = "No progress output." };

    /// <summary>The folder a model path names or lives in (where its tokenizer is looked for by default).</summary>
    public static string ModelFolder(string modelPath) => ModelFiles.ModelLocator.FolderOf(modelPath);
}
