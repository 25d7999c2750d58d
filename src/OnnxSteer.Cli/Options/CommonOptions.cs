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

    /// <summary>
    /// <c>--variant NAME</c>: which of a folder's models MODEL means where several sit side by side (a transformers.js
    /// <c>onnx/</c> folder, an Optimum repository): the file's path in the folder, its file name with or without
    /// <c>.onnx</c>, or its transformers.js dtype (q4f16, q8/quantized, fp16, fp32, ...). Read by <see cref="Model"/>.
    /// </summary>
    public static Option<string?> Variant() => new Option<string?>("--variant")
    {
        Description = "Where MODEL is a folder holding several models (transformers.js onnx/model_*.onnx, Optimum decoder_*.onnx): the one to use, " +
                      "by its path in the folder (onnx/model_q4f16.onnx), its file name with or without .onnx, or its dtype (q4f16, q8, fp16, fp32, ...). " +
                      "A name that picks none or several lists the folder's models.",
        HelpName = "NAME",
    }.Check(v => v is null || IsVariantName(v), "must name a model inside the folder: a relative path without '..', a file name or a dtype");

    /// <summary>The model a command runs on: <paramref name="model"/> as given when no variant is named (each stage
    /// then takes a folder's default model), else the file the variant names in that folder.</summary>
    /// <exception cref="InvalidParameterException">The variant names no model of the folder, or several (the message lists them), or MODEL is a file.</exception>
    public static string Model(string model, string? variant) => variant is null ? model : ModelFiles.ModelLocator.Resolve(model, variant);

    /// <summary><see cref="Model"/> for commands that take two models (diff, compare, eval --against): the variant
    /// applies to each one that is a folder, so a folder and the steered file written from it can be compared.</summary>
    public static string ModelInFolder(string model, string? variant) => Directory.Exists(model) ? Model(model, variant) : model;

    private static bool IsVariantName(string name) =>
        name.Trim().Length > 0 && !Path.IsPathRooted(name) && !name.Replace('\\', '/').Split('/').Contains("..");

    /// <summary>The folder a model path names or lives in (where its tokenizer is looked for by default).</summary>
    public static string ModelFolder(string modelPath) => ModelFiles.ModelLocator.FolderOf(modelPath);
}
