using OnnxSteer.Tokenizers;

namespace OnnxSteer.Import;

/// <summary>Imports a llama2.c checkpoint and its tokenizer as an ONNX model folder.</summary>
internal static class Llama2cImporter
{
    /// <summary>
    /// Writes model.onnx, model.onnx.data, genai_config.json, tokenizer.json and tokenizer_config.json into
    /// <paramref name="outputDirectory"/>. The inputs are only read.
    /// </summary>
    public static ExportResult Import(string checkpointPath, string tokenizerPath, string outputDirectory, ExportStyle style, ExportDType dtype)
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
