using OnnxSteer.IO;
using OnnxSteer.Tokenizers;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Import;

/// <summary>Writes a Llama model with deterministic pseudo-random weights, plus a tokenizer and genai_config.json.</summary>
internal static class SyntheticModel
{
    /// <summary>
    /// Writes the model into <paramref name="outputDirectory"/>, streaming the weights (memory stays bounded by the
    /// encoder's chunk size whatever the model's size). The tokenizer is <see cref="SyntheticTokenizer"/>'s.
    /// </summary>
    public static ExportResult Write(LlamaConfig config, ulong seed, string outputDirectory, ExportStyle style, ExportDType dtype)
    {
        try { config.Validate(); }
        catch (ArgumentException e) { throw new InvalidParameterException(e.ParamName ?? "config", $"cannot synthesise this model: {e.Message}", e); }
        if (config.VocabSize < SyntheticTokenizer.MinimumVocab)
            throw new InvalidParameterException("vocab", $"cannot synthesise this model: {Param("vocab")} must be at least {SyntheticTokenizer.MinimumVocab} (3 special + 256 byte tokens)");

        var result = LlamaOnnxExporter.Export(new SyntheticLlamaWeights(config, seed), outputDirectory, style, dtype,
            new GenaiConfigTokens(Llama2cTokenizerFile.BosId, Llama2cTokenizerFile.EosId, PadTokenId: 0));
        WriteTokenizer(config.VocabSize, outputDirectory);
        return result;
    }

    private static void WriteTokenizer(int vocabSize, string outputDirectory)
    {
        // The tokenizer file reader takes a path: stage the synthetic tok.bin beside the outputs, then remove it.
        var staged = AtomicFile.TempNameFor(Path.GetFullPath(Path.Combine(outputDirectory, "tok.bin")));
        try
        {
            File.WriteAllBytes(staged, SyntheticTokenizer.ToLlama2cBytes(vocabSize));
            Llama2cTokenizerFile.Read(staged).WriteHuggingFaceFiles(outputDirectory);
        }
        finally
        {
            File.Delete(staged);
        }
    }
}
