using OnnxSteer.IO;
using OnnxSteer.Tokenizers;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Import;

/// <summary>Writes a Llama model of any shape with deterministic pseudo-random weights, plus a tokenizer and genai_config.json.</summary>
public static class SyntheticModel
{
    /// <summary>The smallest vocabulary a synthetic model can have: 3 special tokens and 256 byte tokens.</summary>
    public const int MinimumVocab = SyntheticTokenizer.MinimumVocab;

    /// <summary>
    /// Writes the model into <paramref name="outputDirectory"/> as <see cref="Llama2cImporter.Import"/> does, streaming
    /// the weights (memory stays bounded whatever the model's size). The same <paramref name="config"/> and
    /// <paramref name="seed"/> give byte-identical weights. The tokenizer is a byte-level one (3 special tokens, 256
    /// byte tokens, then merges up to the vocabulary size).
    /// </summary>
    /// <param name="config">The model's shape; <see cref="LlamaConfig.VocabSize"/> must be at least <see cref="MinimumVocab"/>.</param>
    /// <param name="seed">Seed of the weights.</param>
    /// <param name="outputDirectory">Folder to write into (created when missing).</param>
    /// <param name="style">Graph conventions.</param>
    /// <param name="dtype">Weight precision.</param>
    /// <returns>The paths written and the size of the weights.</returns>
    /// <exception cref="InvalidParameterException">The sizes cannot describe a model (not positive, heads not dividing the width, ...).</exception>
    public static ExportResult Write(LlamaConfig config, ulong seed, string outputDirectory,
        ExportStyle style = ExportStyle.Genai, ExportDType dtype = ExportDType.Fp32)
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
