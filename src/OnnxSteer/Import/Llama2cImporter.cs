using OnnxSteer.Tokenizers;

namespace OnnxSteer.Import;

/// <summary>Imports a llama2.c checkpoint (e.g. stories260K) and its tokenizer as an ONNX model folder.</summary>
public static class Llama2cImporter
{
    /// <summary>
    /// Writes model.onnx, model.onnx.data, genai_config.json, tokenizer.json and tokenizer_config.json into
    /// <paramref name="outputDirectory"/> (created when missing; files of those names in it are replaced, each written
    /// under a temporary name and renamed when complete). The inputs are only read. The folder opens in ONNX Runtime,
    /// onnxruntime-genai and every OnnxSteer stage.
    /// </summary>
    /// <param name="checkpointPath">llama2.c checkpoint (.bin, legacy format: 7 int32 header then fp32 weights).</param>
    /// <param name="tokenizerPath">llama2.c tokenizer (tok*.bin) whose vocabulary matches the checkpoint's.</param>
    /// <param name="outputDirectory">Folder to write into.</param>
    /// <param name="style">Graph conventions: onnxruntime-genai builder operators (the default) or default-domain operators only.</param>
    /// <param name="dtype">Weight precision.</param>
    /// <returns>The paths written and the size of the weights.</returns>
    /// <exception cref="InvalidModelException">The checkpoint is missing or malformed, or its vocabulary differs from the tokenizer's.</exception>
    /// <exception cref="Tokenizers.InvalidTokenizerException">The tokenizer file cannot be read as a llama2.c tokenizer.</exception>
    public static ExportResult Import(string checkpointPath, string tokenizerPath, string outputDirectory,
        ExportStyle style = ExportStyle.Genai, ExportDType dtype = ExportDType.Fp32)
    {
        var checkpoint = Llama2cCheckpoint.Load(checkpointPath);
        var tokenizer = Llama2cTokenizerFile.Read(tokenizerPath);
        if (tokenizer.VocabSize != checkpoint.Config.VocabSize)
            throw new InvalidModelException(
                $"{tokenizerPath}: the tokenizer has {tokenizer.VocabSize} tokens but {checkpointPath} has a vocabulary of {checkpoint.Config.VocabSize}");
        var result = LlamaOnnxExporter.Export(checkpoint, outputDirectory, style, dtype,
            new GenaiConfigTokens(Llama2cTokenizerFile.BosId, Llama2cTokenizerFile.EosId, PadTokenId: 0));
        tokenizer.WriteHuggingFaceFiles(outputDirectory);
        return result;
    }
}
