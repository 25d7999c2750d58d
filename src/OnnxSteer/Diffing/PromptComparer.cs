using OnnxSteer.Generation;
using OnnxSteer.Runtime;
using OnnxSteer.Tokenizers;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Diffing;

/// <summary>
/// Runs both models of a diff on one prompt: the next-token distributions after it (top tokens of each, KL(A||B),
/// max |Δlogit|) and, optionally, both greedy continuations.
/// </summary>
public static class PromptComparer
{
    /// <summary>Number of top tokens listed per model.</summary>
    public const int TopTokens = 5;

    /// <summary>Runs both models on <paramref name="prompt"/> and compares their next-token distributions (top
    /// <see cref="TopTokens"/> of each, KL(A||B), max |Δlogit|); with <paramref name="generate"/> &gt; 0 also both greedy continuations.</summary>
    /// <param name="modelA">Original model (.onnx file or folder).</param>
    /// <param name="modelB">Changed model.</param>
    /// <param name="tokenizer">The tokenizer both models use.</param>
    /// <param name="prompt">Prompt text; BOS is added when the tokenizer has one.</param>
    /// <param name="generate">Greedy tokens to generate with each model (0: none).</param>
    /// <param name="settings">ONNX Runtime settings (device, threads).</param>
    /// <exception cref="InvalidParameterException">The prompt encodes to no tokens.</exception>
    /// <exception cref="InvalidModelException">A model cannot be run, or the two vocabularies differ in size.</exception>
    public static PromptComparison Compare(string modelA, string modelB, ITokenizer tokenizer, string prompt, int generate, RuntimeSettings? settings = null)
    {
        var ids = tokenizer.EncodeToIds(prompt, addBos: true);
        if (ids.Count == 0) throw new InvalidParameterException("prompt", $"{Param("prompt")}: the prompt encodes to no tokens");
        using var a = DecoderModel.Open(modelA, settings);
        using var b = DecoderModel.Open(modelB, settings);
        var logitsA = NextTokenLogits(a, ids);
        var logitsB = NextTokenLogits(b, ids);
        if (logitsA.Length != logitsB.Length)
            throw new InvalidModelException($"{modelB}: its vocabulary has {logitsB.Length} entries, {modelA} has {logitsA.Length}; the models cannot be compared token by token");

        var cmp = LogitComparison.Compare(logitsA, logitsB, TopTokens);
        TokenProbability Named(RankedToken t) => new(t.Id, TextAfter(tokenizer, ids, t.Id), t.Probability, t.Logit);
        return new PromptComparison(prompt, ids.Count, cmp.TopA.Select(Named).ToList(), cmp.TopB.Select(Named).ToList(),
            cmp.KlAB, cmp.MaxAbsLogitDiff, generate > 0 ? Continue(a, b, tokenizer, ids, generate) : null);
    }

    /// <summary>
    /// The text <paramref name="id"/> adds after <paramref name="prompt"/>, leading space included: decoded alone, a
    /// SentencePiece token loses it ("▁do" reads "do"), so "do" and " do" would look the same.
    /// </summary>
    internal static string TextAfter(ITokenizer tokenizer, IReadOnlyList<int> prompt, int id)
    {
        var before = tokenizer.Decode(prompt, skipSpecialTokens: false);
        var after = tokenizer.Decode([.. prompt, id], skipSpecialTokens: false);
        return after.StartsWith(before, StringComparison.Ordinal) ? after[before.Length..] : tokenizer.Decode([id], skipSpecialTokens: false);
    }

    /// <summary>Logits for the token after <paramref name="ids"/>: one cached step when the export has a KV cache
    /// (some exports return only the last position), else the last row of a full forward pass.</summary>
    internal static float[] NextTokenLogits(DecoderModel model, IReadOnlyList<int> ids)
    {
        if (model.Layout.HasKvCache)
        {
            using var cache = model.CreateCache();
            return model.Step(ids, cache);
        }
        var all = model.Forward(ids);
        return all.Row(all.Positions - 1).ToArray();
    }

    private static GenerationPair Continue(DecoderModel a, DecoderModel b, ITokenizer tokenizer, IReadOnlyList<int> ids, int tokens)
    {
        var greedy = new SamplingSettings { MaxTokens = tokens };
        IReadOnlyList<int>? stop = tokenizer.EosTokenId is { } eos ? [eos] : null;
        var outA = new Generator(a) { EosTokenIds = stop }.Generate(ids, greedy).GeneratedIds;
        var outB = new Generator(b) { EosTokenIds = stop }.Generate(ids, greedy).GeneratedIds;
        int? diverge = null;
        for (var i = 0; i < Math.Max(outA.Count, outB.Count); i++)
        {
            if (i < outA.Count && i < outB.Count && outA[i] == outB[i]) continue;
            diverge = i;
            break;
        }
        return new GenerationPair(tokens, TextStreamer.Continuation(tokenizer, ids, outA), TextStreamer.Continuation(tokenizer, ids, outB), outA, outB, diverge);
    }
}
