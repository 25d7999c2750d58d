using System.Text.Json;

namespace OnnxSteer.ModelFiles;

/// <summary>
/// Which .onnx file of a folder is the model, for every stage that is given a folder: the file an onnxruntime-genai
/// genai_config.json names (model.decoder.filename); else <c>model.onnx</c> (in the folder, or in its <c>onnx/</c>
/// subfolder as transformers.js repositories keep it); else an Optimum merged decoder
/// (<c>decoder_model_merged.onnx</c>); else the only .onnx file there is. Several candidates and no default is an
/// error that lists them. A file path is returned as it is.
/// </summary>
internal static class ModelLocator
{
    /// <summary>The name of onnxruntime-genai's configuration file.</summary>
    public const string GenaiConfig = "genai_config.json";

    /// <summary>Files taken as the model, in order, when a folder holds them.</summary>
    private static readonly string[] Defaults =
        ["model.onnx", "onnx/model.onnx", "decoder_model_merged.onnx", "onnx/decoder_model_merged.onnx"];

    /// <summary>
    /// The model file for <paramref name="path"/>: itself when it is not a folder; for a folder, the file chosen as
    /// described on the type (which may not exist when a genai_config.json names it, or when there is no .onnx file at
    /// all: then <c>model.onnx</c>, so the caller's "no such file" names what was expected).
    /// </summary>
    /// <exception cref="InvalidModelException">The folder holds several models and none of them is the default.</exception>
    public static string Resolve(string path)
    {
        if (!Directory.Exists(path)) return path;
        if (GenaiModelFile(path) is { } named) return Path.Combine(path, named);
        foreach (var name in Defaults)
        {
            var file = Path.Combine(path, name);
            if (File.Exists(file)) return file;
        }
        var variants = Variants(path);
        return variants.Count switch
        {
            0 => Path.Combine(path, "model.onnx"),
            1 => Path.Combine(path, variants[0]),
            _ => throw new InvalidModelException(
                $"{path}: {variants.Count} models and none is the default (genai_config.json, model.onnx, decoder_model_merged.onnx): " +
                $"{string.Join(", ", variants)}; give the one to use as the model, e.g. {Path.Combine(path, variants[0])}"),
        };
    }

    /// <summary>The .onnx files of a folder and of its onnx/ subfolder, relative to it, sorted.</summary>
    public static IReadOnlyList<string> Variants(string folder)
    {
        var found = new List<string>();
        foreach (var dir in new[] { folder, Path.Combine(folder, "onnx") })
            if (Directory.Exists(dir))
                found.AddRange(Directory.GetFiles(dir, "*.onnx").Select(f => Path.GetRelativePath(folder, f).Replace('\\', '/')));
        found.Sort(StringComparer.Ordinal);
        return found;
    }

    /// <summary>The decoder file a genai_config.json in <paramref name="folder"/> names, or null (no config, or it names none).</summary>
    private static string? GenaiModelFile(string folder)
    {
        var config = Path.Combine(folder, GenaiConfig);
        if (!File.Exists(config)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(config));
            return doc.RootElement.TryGetProperty("model", out var model) && model.TryGetProperty("decoder", out var decoder)
                   && decoder.TryGetProperty("filename", out var name) && name.ValueKind == JsonValueKind.String
                   && name.GetString() is { Length: > 0 } file
                ? file
                : null;
        }
        catch (Exception e) when (e is JsonException or IOException or InvalidOperationException)
        {
            // A broken config is reported by the stage that reads it in full (Generation); here it just names nothing.
            return null;
        }
    }
}
