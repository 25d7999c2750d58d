using OnnxSteer.IO;

namespace OnnxSteer.ModelFiles;

/// <summary>What a repack wrote: the model (and its data file) and the sidecar files carried beside it.</summary>
/// <param name="Saved">The model file and its data file.</param>
/// <param name="Carried">The names of the files carried from the input's folder (tokenizer, genai_config.json, ...).</param>
public sealed record RepackResult(SaveResult Saved, IReadOnlyList<string> Carried);

/// <summary>
/// Converts a model between inline and external weights (<c>onnxsteer repack</c>). The input is only read: the output
/// may not be the input model or any of its data files, and is written under temporary names and renamed. Sidecar
/// files (tokenizer, genai_config.json) travel with the model to another folder.
/// </summary>
public static class ModelRepacker
{
    /// <summary>
    /// Loads <paramref name="input"/> (a .onnx file or its folder) and saves it to <paramref name="output"/> (a .onnx
    /// path or a folder, as <see cref="ModelLocator.OutputFile"/> resolves it) with <paramref name="options"/>.
    /// </summary>
    /// <exception cref="InvalidModelException">The input is missing or malformed, or its data files are.</exception>
    /// <exception cref="InvalidParameterException">The output would overwrite the input model or its data.</exception>
    public static RepackResult Repack(string input, string output, SaveOptions options)
    {
        var model = OnnxModel.Load(input);
        var outputPath = ModelLocator.OutputFile(output, model.FilePath!);
        Directory.CreateDirectory(Path.GetDirectoryName(outputPath)!);
        var inputFiles = new List<string> { model.FilePath! };
        inputFiles.AddRange(model.DataFileLocations().Select(l => ExternalDataGuard.ResolveDataFile(l, model.BaseDirectory, model.DisplayName)));
        var outputFiles = new List<string> { outputPath };
        if (options.ExternalDataFile is string dataFile)
        {
            ExternalDataGuard.CheckLocationText(dataFile, outputPath);
            outputFiles.Add(Path.Combine(Path.GetDirectoryName(outputPath)!, dataFile));
        }
        foreach (var written in outputFiles)
        {
            var real = RealPath.Resolve(written);
            if (inputFiles.Any(f => string.Equals(RealPath.Resolve(f), real, StringComparison.Ordinal)))
                throw new InvalidParameterException("output", $"{written}: repack would overwrite its input '{model.FilePath}' or the input's data; choose another output");
        }
        var sourceFile = model.FilePath!; // Save points the model at its new file
        var saved = model.Save(outputPath, options);
        var sourceData = inputFiles.Skip(1).Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        var carried = CarrySidecars(sourceFile, sourceData, outputFiles.Select(f => Path.GetFileName(f)!).ToHashSet(StringComparer.Ordinal), outputPath);
        return new RepackResult(saved, carried);
    }

    /// <summary>
    /// Into another folder, the files that make the model usable beside it, as <c>patch</c> carries them
    /// (genai_config.json, tokenizer files, other models of a multi-model folder): every plain, visible file beside the
    /// source except the source model, its data files (rewritten by the repack) and the files the repack wrote. Hard
    /// links where the file system allows, else copies; each lands under a temporary name first. Returns the names.
    /// </summary>
    private static IReadOnlyList<string> CarrySidecars(string sourceFile, HashSet<string?> sourceData, HashSet<string> written, string outputPath)
    {
        var sourceDir = Path.GetDirectoryName(Path.GetFullPath(sourceFile))!;
        var outDir = Path.GetDirectoryName(outputPath)!;
        if (string.Equals(RealPath.Resolve(sourceDir), RealPath.Resolve(outDir), StringComparison.Ordinal)) return [];
        var carried = new List<string>();
        foreach (var from in Directory.EnumerateFiles(sourceDir).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(from);
            if (name.StartsWith('.') || name == Path.GetFileName(sourceFile) || sourceData.Contains(name) || written.Contains(name)) continue;
            if (name.EndsWith(".steer.data", StringComparison.Ordinal)) continue;
            var final = Path.Combine(outDir, name);
            var temp = IO.AtomicFile.TempNameFor(final);
            if (!HardLink.TryCreate(from, temp)) File.Copy(from, temp);
            File.Move(temp, final, overwrite: true);
            IO.AtomicFile.TryDelete(temp); // left by rename(2) when both names already link one file
            carried.Add(name);
        }
        return carried;
    }
}
