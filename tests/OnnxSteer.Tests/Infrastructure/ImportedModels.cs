using System.Collections.Concurrent;
using OnnxSteer.Import;

namespace OnnxSteer.Tests.Infrastructure;

/// <summary>
/// stories260K (../shared) imported to ONNX once per test run and per (style, dtype), in a temporary folder removed
/// when the test process exits. Tests that need a real model to steer, profile, patch, diff or evaluate call
/// <see cref="Get(ExportStyle, ExportDType)"/> and treat the folder as read-only (copy it to modify it).
/// Use from [SharedFact]/[SharedTheory] tests: it needs ../shared.
/// </summary>
public static class ImportedModels
{
    private static readonly string Root = Path.Combine(Path.GetTempPath(), $"onnxsteer-imported-{Environment.ProcessId}-{Guid.NewGuid():N}");
    private static readonly ConcurrentDictionary<(ExportStyle, ExportDType), Lazy<string>> Folders = new();

    static ImportedModels()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true); }
            catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
    }

    /// <summary>The folder holding model.onnx, model.onnx.data, tokenizer.json and genai_config.json.</summary>
    internal static string Get(ExportStyle style, ExportDType dtype) =>
        Folders.GetOrAdd((style, dtype), key => new Lazy<string>(() => Import(key.Item1, key.Item2))).Value;

    /// <summary>Same, by the CLI's names ("genai"/"standard", "fp32"/"fp16"/"int4").</summary>
    public static string Get(string style, string dtype) => Get(OnnxSteer.Cli.Commands.ExportOptionsCli.ParseStyle(style), OnnxSteer.Cli.Commands.ExportOptionsCli.ParseDType(dtype));

    /// <summary>The stories260K checkpoint the models are imported from.</summary>
    public static string CheckpointPath => SharedData.Path("models", "stories260K", "stories260K.bin");

    /// <summary>Its llama2.c tokenizer.</summary>
    public static string TokenizerPath => SharedData.Path("models", "stories260K", "tok512.bin");

    private static string Import(ExportStyle style, ExportDType dtype)
    {
        var folder = Path.Combine(Root, $"stories260K-{style.Name()}-{dtype.Name()}");
        Llama2cImporter.Import(CheckpointPath, TokenizerPath, folder, style, dtype);
        return folder;
    }
}
