using OnnxSteer.Generation;
using OnnxSteer.ModelFiles;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Server;

/// <summary>
/// Sizes known before any work: the longest prompt text that could still fit the context (so a prompt far too long is
/// refused before it is tokenized, which for a megabyte is a second of CPU), and what one generation holds in memory
/// (for the default number of generations at once).
/// </summary>
internal static class PromptBudget
{
    /// <summary>
    /// Prompt tokens are appended in chunks of this many: the prefill's logits and activations are those of one chunk,
    /// not of the whole prompt (a 1 000-token prompt of a 32 000-word model would otherwise hold 128 MB of logits).
    /// </summary>
    public const int PrefillChunk = GenaiHost.DefaultPrefillChunk;

    /// <summary>
    /// The most UTF-16 characters a prompt of <paramref name="contextLength"/> tokens can have: every token decodes to
    /// at most the longest token's text (+1 for a leading space a decoder strips), and a normaliser (NFKC) can shrink
    /// one input character (2 UTF-16 units at most) to one, hence the factor 2. Anything longer cannot fit.
    /// </summary>
    public static int MaxPromptChars(ITokenizer tokenizer, int contextLength)
    {
        if (contextLength == int.MaxValue) return int.MaxValue;
        var longest = 1;
        for (var id = 0; id < tokenizer.VocabSize; id++)
        {
            try { longest = Math.Max(longest, tokenizer.Decode([id], skipSpecialTokens: false).Length + 1); }
            catch (Exception e) when (e is ArgumentException or KeyNotFoundException or IndexOutOfRangeException) { }
        }
        return (int)Math.Min(int.MaxValue, 2L * contextLength * longest);
    }

    /// <summary>
    /// Bytes one generation holds at most: the KV cache over the whole context (fp32: the larger of genai's two
    /// types) and four times a prefill chunk's logits (the logits, genai's copy, and ONNX Runtime's arena for the
    /// chunk's activations: measured by <c>make bench-serve</c>, docs/serve.md).
    /// </summary>
    public static long BytesPerGeneration(GenaiConfigFile config)
    {
        long layers = config.NumHiddenLayers ?? 32, heads = config.NumKeyValueHeads ?? 32, head = config.HeadSize ?? 128;
        long context = Math.Min(config.ContextLength ?? 4096, 1 << 20), vocab = config.VocabSize ?? 32000;
        return 2 * layers * heads * head * context * sizeof(float) + 4L * PrefillChunk * vocab * sizeof(float);
    }
}
