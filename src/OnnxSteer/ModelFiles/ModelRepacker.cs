namespace OnnxSteer.ModelFiles;

/// <summary>
/// Converts a model between inline and external weights (<c>onnxsteer repack</c>). The input is only read: the output
/// may not be the input model or any of its data files, and is written under temporary names and renamed.
/// </summary>
public static class ModelRepacker
{
    /// <summary>Loads <paramref name="input"/> and saves it to <paramref name="output"/> with <paramref name="options"/>.</summary>
    public static SaveResult Repack(string input, string output, SaveOptions options)
    {
        var model = OnnxModel.Load(input);
        var outputPath = Path.GetFullPath(Directory.Exists(output) ? Path.Combine(output, Path.GetFileName(model.FilePath!)) : output);
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
                throw new OnnxSteerException($"{written}: repack would overwrite its input '{model.FilePath}' or the input's data; choose another output");
        }
        return model.Save(outputPath, options);
    }
}
