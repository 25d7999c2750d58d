using System.Text.RegularExpressions;
using OnnxSteer.Generation;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Diffing;

/// <summary>One prompt's greedy continuations under the vanilla and the steered model.</summary>
/// <param name="Prompt">The prompt text.</param>
/// <param name="Vanilla">The vanilla model's continuation.</param>
/// <param name="Steered">The steered model's continuation.</param>
public sealed record ContinuationPair(string Prompt, string Vanilla, string Steered);

/// <summary>How often one group of words appears in the continuations of each model.</summary>
/// <param name="Words">The words of the group (whole words, case-insensitive).</param>
/// <param name="VanillaHits">Occurrences in all vanilla continuations.</param>
/// <param name="SteeredHits">Occurrences in all steered continuations.</param>
/// <param name="VanillaPrompts">Prompts whose vanilla continuation contains a word of the group.</param>
/// <param name="SteeredPrompts">Prompts whose steered continuation contains a word of the group.</param>
public sealed record WordCount(IReadOnlyList<string> Words, int VanillaHits, int SteeredHits, int VanillaPrompts, int SteeredPrompts);

/// <summary>The result of <see cref="SideBySide.Run"/> (written by <c>compare --json</c> as schema <see cref="Schema"/>).</summary>
/// <param name="Pairs">Both continuations of every prompt, in prompt order.</param>
/// <param name="Counts">One count per word group, in the order given.</param>
/// <param name="MaxNewTokens">Tokens generated per continuation (fewer where the model stopped).</param>
public sealed record SideBySideReport(IReadOnlyList<ContinuationPair> Pairs, IReadOnlyList<WordCount> Counts, int MaxNewTokens)
{
    /// <summary>The JSON schema name, first in the file.</summary>
    [System.Text.Json.Serialization.JsonPropertyOrder(-1)]
    public string Schema => "onnxsteer.compare/1";
}

/// <summary>
/// Greedy continuations of the same prompts from two models (typically vanilla and steered), and how often chosen
/// words appear in each: the simplest measured effect of a steering patch.
/// </summary>
public static class SideBySide
{
    /// <summary>Generates greedily from both models for every prompt and counts each word group.</summary>
    /// <param name="vanilla">The original model, opened by the caller (who disposes it).</param>
    /// <param name="steered">The steered model.</param>
    /// <param name="tokenizer">The tokenizer both use.</param>
    /// <param name="prompts">The prompts; BOS is added when the tokenizer has one.</param>
    /// <param name="maxNewTokens">Greedy tokens per continuation.</param>
    /// <param name="wordGroups">Groups of words to count (whole words, case-insensitive).</param>
    /// <param name="onPair">Sees each prompt's pair as soon as both continuations are made (for printing as it goes).</param>
    public static SideBySideReport Run(DecoderModel vanilla, DecoderModel steered, ITokenizer tokenizer,
        IReadOnlyList<string> prompts, int maxNewTokens, IReadOnlyList<IReadOnlyList<string>> wordGroups,
        Action<ContinuationPair>? onPair = null)
    {
        var options = new SamplingSettings { MaxTokens = maxNewTokens };
        var eos = tokenizer.EosTokenId;
        var pairs = new List<ContinuationPair>();
        foreach (var prompt in prompts)
        {
            var ids = tokenizer.EncodeToIds(prompt, addBos: true);
            var a = Continue(vanilla, ids, options, tokenizer);
            var b = Continue(steered, ids, options, tokenizer);
            var pair = new ContinuationPair(prompt, a, b);
            pairs.Add(pair);
            onPair?.Invoke(pair);
        }
        var counts = wordGroups.Select(words => Count(words, pairs)).ToList();
        return new SideBySideReport(pairs, counts, maxNewTokens);
    }

    /// <summary>Counts whole-word, case-insensitive occurrences of <paramref name="words"/> in both sides.</summary>
    internal static WordCount Count(IReadOnlyList<string> words, IReadOnlyList<ContinuationPair> pairs)
    {
        var pattern = new Regex(@"\b(" + string.Join("|", words.Select(Regex.Escape)) + @")\b",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
        int Hits(string s) => pattern.Matches(s).Count;
        return new WordCount(words,
            pairs.Sum(p => Hits(p.Vanilla)), pairs.Sum(p => Hits(p.Steered)),
            pairs.Count(p => Hits(p.Vanilla) > 0), pairs.Count(p => Hits(p.Steered) > 0));
    }

    private static string Continue(DecoderModel model, IReadOnlyList<int> ids, SamplingSettings options, ITokenizer tokenizer)
    {
        var result = new Generator(model).Generate(ids, options);
        return TextStreamer.Continuation(tokenizer, ids, result.GeneratedIds);
    }
}
