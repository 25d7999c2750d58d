using static OnnxSteer.ErrorText;

namespace OnnxSteer.ModelFiles;

/// <summary>
/// Which .onnx file of a folder is the model, for every stage that is given a folder: the file an onnxruntime-genai
/// genai_config.json names (model.decoder.filename); else <c>model.onnx</c> (in the folder, or in its <c>onnx/</c>
/// subfolder as transformers.js repositories keep it); else an Optimum merged decoder
/// (<c>decoder_model_merged.onnx</c>); else the only .onnx file there is. Several candidates and no default is an
/// error that lists them. A file path is returned as it is. A variant names one of the folder's models where several
/// sit side by side (<see cref="Resolve(string, string?)"/>). This is the one place that decides it:
/// every stage, the CLI and the server ask here (a test keeps the default file name out of the rest of the source).
/// </summary>
public static class ModelLocator
{
    /// <summary>The name of onnxruntime-genai's configuration file.</summary>
    public const string GenaiConfig = GenaiConfigFile.FileName;

    /// <summary>The model file of a folder that says nothing else (and the name import, synth and patch write).</summary>
    public const string DefaultFileName = "model.onnx";

    /// <summary>Files taken as the model, in order, when a folder holds them.</summary>
    private static readonly string[] Defaults =
        [DefaultFileName, "onnx/" + DefaultFileName, "decoder_model_merged.onnx", "onnx/decoder_model_merged.onnx"];

    /// <summary>
    /// The model file for <paramref name="path"/>: itself when it is not a folder; for a folder, the file chosen as
    /// described on the type (which may not exist when a genai_config.json names it, or when there is no .onnx file at
    /// all: then <c>model.onnx</c>, so the caller's "no such file" names what was expected).
    /// </summary>
    /// <param name="path">A model file, or a folder holding one.</param>
    /// <param name="variant">For a folder: the model to take among <see cref="Variants"/>, named by its path relative
    /// to the folder (<c>onnx/model_q4f16.onnx</c>), its file name with or without <c>.onnx</c>
    /// (<c>decoder_model_merged</c>), or its transformers.js dtype (<c>q4f16</c>, <c>q8</c>/<c>quantized</c>, <c>fp16</c>,
    /// <c>fp32</c> for the unsuffixed file); null: the default described on the type.</param>
    /// <exception cref="InvalidModelException">The folder holds several models and none of them is the default.</exception>
    /// <exception cref="InvalidParameterException"><paramref name="variant"/> names no model of the folder, or several,
    /// or is given with a file (the message lists the folder's models).</exception>
    public static string Resolve(string path, string? variant = null)
    {
        if (!Directory.Exists(path))
            return variant is null || !File.Exists(path) ? path // nothing there: the stage that opens it says so
                : throw new InvalidParameterException(nameof(variant),
                    $"{path}: {Param(nameof(variant))} '{variant}' picks a model in a folder, and this is a file: give the folder with {Param(nameof(variant))}, or the file alone");
        if (variant is not null) return Path.Combine(path, Pick(path, variant));
        if (GenaiModelFileOrNull(path) is { } named) return Path.Combine(path, named);
        foreach (var name in Defaults)
        {
            var file = Path.Combine(path, name);
            if (File.Exists(file)) return file;
        }
        var variants = Variants(path);
        return variants.Count switch
        {
            0 => Path.Combine(path, DefaultFileName),
            1 => Path.Combine(path, variants[0]),
            _ => throw new InvalidModelException(
                $"{path}: {variants.Count} models and none is the default (genai_config.json, model.onnx, decoder_model_merged.onnx): " +
                $"{string.Join(", ", variants)}; pick one with {Param(nameof(variant))} (e.g. {Path.GetFileNameWithoutExtension(variants[0])}) or give its file as the model, e.g. {Path.Combine(path, variants[0])}"),
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

    /// <summary>The files of <see cref="Variants"/> named by <paramref name="variant"/> (see <see cref="Resolve(string, string?)"/>):
    /// the first way of naming that matches any.</summary>
    private static string Pick(string folder, string variant)
    {
        var variants = Variants(folder);
        var wanted = variant.Replace('\\', '/').Trim();
        Func<string, bool>[] namings =
        [
            v => v == wanted,
            v => Path.GetFileName(v) == wanted || Path.GetFileNameWithoutExtension(v) == wanted,
            v => Dtype(v) is { } dtype && (dtype == wanted.ToLowerInvariant() || (dtype == "q8" && wanted.Equals("quantized", StringComparison.OrdinalIgnoreCase))),
        ];
        foreach (var naming in namings)
        {
            var matches = variants.Where(naming).ToList();
            if (matches.Count == 1) return matches[0];
            if (matches.Count > 1)
                throw new InvalidParameterException(nameof(variant),
                    $"{folder}: {Param(nameof(variant))} '{variant}' names {matches.Count} models ({string.Join(", ", matches)}): give the file's path in the folder, e.g. {matches[0]}");
        }
        if (variants.Count == 0)
            throw new InvalidParameterException(nameof(variant), $"{folder}: no .onnx model here or in onnx/, so {Param(nameof(variant))} '{variant}' names none");
        throw new InvalidParameterException(nameof(variant), $"{folder}: {Param(nameof(variant))} '{variant}' names none of its {variants.Count} models: {string.Join(", ", variants)}");
    }

    /// <summary>Base names of the Hugging Face exporters' files that dtype suffixes are appended to (transformers.js
    /// writes <c>{base}_{dtype}.onnx</c>, Optimum the bases).</summary>
    private static readonly string[] ExporterBases = ["decoder_with_past_model", "decoder_model_merged", "decoder_model", "model"];

    /// <summary>The transformers.js dtype of a file: fp32 for a bare base name, q8 for <c>_quantized</c>, else the suffix; null for other names.</summary>
    private static string? Dtype(string variant)
    {
        var stem = Path.GetFileNameWithoutExtension(variant);
        foreach (var name in ExporterBases)
        {
            if (stem == name) return "fp32";
            if (stem.StartsWith(name + "_", StringComparison.Ordinal))
            {
                var suffix = stem[(name.Length + 1)..];
                return suffix == "quantized" ? "q8" : suffix;
            }
        }
        return null;
    }

    /// <summary>
    /// Where the model at <paramref name="path"/> (a folder or a .onnx file) is: its file (<see cref="Resolve"/>, with
    /// <paramref name="variant"/> when given), the
    /// folder holding it, and that folder's genai_config.json when there is one (read in full: a malformed one is an
    /// error here, as it is for every stage that runs the model).
    /// </summary>
    /// <exception cref="InvalidModelException">No such file or folder; a folder without its model file; a malformed genai_config.json.</exception>
    internal static ModelLocation Locate(string path, string? variant = null)
    {
        if (Directory.Exists(path))
        {
            var config = GenaiConfigFile.TryRead(path);
            var file = Resolve(path, variant);
            if (!File.Exists(file))
                throw new InvalidModelException($"{path}: no {Path.GetFileName(file)} in this folder" + (config is null ? " and no genai_config.json" : $" (named by {GenaiConfig})"));
            return new ModelLocation(file, path, config);
        }
        if (File.Exists(path))
        {
            if (variant is not null) Resolve(path, variant); // a variant with a file: Resolve says why not
            var folder = FolderOf(path);
            return new ModelLocation(path, folder, GenaiConfigFile.TryRead(folder));
        }
        throw new InvalidModelException($"{path}: no such model file or folder");
    }

    /// <summary>
    /// The model file a command writing a copy of <paramref name="sourceFile"/> to <paramref name="output"/> writes (patch,
    /// unpatch, repack): an existing folder, a path ending in a separator, or a path without the .onnx extension is a
    /// folder, where the model keeps <paramref name="sourceFile"/>'s name; anything else is the file itself. A full path.
    /// </summary>
    public static string OutputFile(string output, string sourceFile)
    {
        var full = Path.GetFullPath(output);
        var isFolder = Directory.Exists(full) || output.EndsWith('/') || output.EndsWith(Path.DirectorySeparatorChar)
                       || !full.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);
        return isFolder ? Path.Combine(full, Path.GetFileName(sourceFile)) : full;
    }

    /// <summary>
    /// The external data files (full paths) the model file <paramref name="modelFile"/> references, read from its
    /// structure alone (no weights are read; the files need not exist). Empty for a model with every weight inline.
    /// </summary>
    /// <exception cref="InvalidModelException">The file is missing or is not an ONNX model.</exception>
    public static IReadOnlyList<string> DataFiles(string modelFile)
    {
        var model = OnnxModel.Load(modelFile, checkExternalData: false);
        return [.. model.DataFileLocations().Select(l => Path.GetFullPath(Path.Combine(model.BaseDirectory, l)))];
    }

    /// <summary>
    /// The tokenizer and configuration files a transformers.js repository keeps one folder above <c>onnx/</c>
    /// (tokenizer.json, tokenizer_config.json, special_tokens_map.json, config.json, generation_config.json), as full
    /// paths, for a model file inside such an <c>onnx/</c> folder; empty for any other model. A steered copy written
    /// elsewhere carries them so that it runs on its own.
    /// </summary>
    public static IReadOnlyList<string> RepositoryRootFiles(string modelFile)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(modelFile))!;
        if (!string.Equals(Path.GetFileName(folder), "onnx", StringComparison.Ordinal)) return [];
        var root = Path.GetDirectoryName(folder)!;
        return RootFileNames.Select(n => Path.Combine(root, n)).Where(File.Exists).ToList();
    }

    private static readonly string[] RootFileNames =
        ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json", "generation_config.json"];

    /// <summary>The folder of a model: <paramref name="path"/> itself when it is a folder, else the folder of the file.</summary>
    public static string FolderOf(string path) => Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;

    /// <summary>
    /// The file onnxruntime-genai runs for <paramref name="folder"/>: the one its genai_config.json names, else
    /// <see cref="DefaultFileName"/> (genai's own default), as a path in the folder (it may not exist).
    /// </summary>
    /// <exception cref="InvalidModelException">The folder's genai_config.json is malformed.</exception>
    internal static string GenaiModelFile(string folder) =>
        Path.Combine(folder, GenaiConfigFile.TryRead(folder)?.ModelFileName ?? DefaultFileName);

    /// <summary>The decoder file a genai_config.json in <paramref name="folder"/> names, or null (no config, or it names none).</summary>
    private static string? GenaiModelFileOrNull(string folder)
    {
        try
        {
            return GenaiConfigFile.TryRead(folder)?.ModelFileName is { Length: > 0 } file ? file : null;
        }
        catch (Exception e) when (e is InvalidModelException or IOException)
        {
            // A broken config is reported by the stage that reads it in full (Locate); here it just names nothing.
            return null;
        }
    }
}

/// <summary>A model's file, its folder, and the folder's genai_config.json (null when there is none).</summary>
internal sealed record ModelLocation(string File, string Folder, GenaiConfigFile? Config);
