namespace OnnxSteer.Import;

/// <summary>What an import or a synthesis wrote: the folder and its two model files, as full paths.</summary>
/// <param name="Directory">The output folder.</param>
/// <param name="ModelPath">model.onnx: the graph.</param>
/// <param name="DataPath">model.onnx.data: the external weights.</param>
/// <param name="DataBytes">Size of the external weights in bytes.</param>
public sealed record ExportResult(string Directory, string ModelPath, string DataPath, long DataBytes)
{
    /// <summary>
    /// The names of the files every import and synthesis writes into its folder (model.onnx, model.onnx.data,
    /// genai_config.json, tokenizer.json, tokenizer_config.json): a caller that must not replace existing files checks these.
    /// </summary>
    public static IReadOnlyList<string> FileNames { get; } =
        [LlamaOnnxExporter.ModelFileName, LlamaOnnxExporter.DataFileName, GenaiConfig.FileName, "tokenizer.json", "tokenizer_config.json"];
}
