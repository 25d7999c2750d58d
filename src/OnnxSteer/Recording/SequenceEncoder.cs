using OnnxSteer.Pairs;
using OnnxSteer.Tokenizers;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Recording;

/// <summary>A pair as token ids, and whether its prompt was cut to fit.</summary>
internal sealed record EncodedPair(ContrastivePair Pair, IReadOnlyList<int> Positive, IReadOnlyList<int> Negative, int TruncatedSequences);

/// <summary>
/// Tokenizes pairs (BOS added, prompt + answer encoded as one text, as the method concatenates them) and fits them
/// to <see cref="MaxTokens"/> by dropping prompt tokens from the left, after the BOS, so the answer at the end is
/// never cut. A sequence whose answer alone does not fit is a bad record.
/// </summary>
internal sealed class SequenceEncoder(ITokenizer tokenizer, int maxTokens)
{
    /// <summary>The longest sequence the model is run on.</summary>
    public int MaxTokens { get; } = maxTokens >= 2 ? maxTokens : throw new InvalidParameterException("maxTokens", $"{Param("maxTokens")} {maxTokens}: must be at least 2");

    /// <summary>Encodes a pair; throws <see cref="BadRecordException"/> when an answer cannot fit.</summary>
    public EncodedPair Encode(ContrastivePair pair)
    {
        var promptLength = tokenizer.EncodeToIds(pair.Prompt, addBos: true).Count;
        var (pos, cutPos) = Fit(tokenizer.EncodeToIds(pair.PositiveText, addBos: true), promptLength, "positive");
        var (neg, cutNeg) = Fit(tokenizer.EncodeToIds(pair.NegativeText, addBos: true), promptLength, "negative");
        return new EncodedPair(pair, pos, neg, (cutPos ? 1 : 0) + (cutNeg ? 1 : 0));
    }

    private (IReadOnlyList<int> Ids, bool Cut) Fit(IReadOnlyList<int> ids, int promptLength, string which)
    {
        if (ids.Count == 0) throw new BadRecordException($"the {which} sequence encodes to no tokens");
        if (ids.Count <= MaxTokens) return (ids, false);
        var bos = tokenizer.BosTokenId is { } b && ids[0] == b ? 1 : 0;
        // Tokens from the answer: at least one; merges across the prompt/answer boundary make this approximate,
        // so the boundary token is kept too.
        var answer = Math.Max(1, ids.Count - promptLength) + 1;
        if (answer + bos > MaxTokens)
            throw new BadRecordException($"the {which} answer needs about {answer} tokens, more than {Param("maxTokens")} {MaxTokens} allows");
        var keep = MaxTokens - bos;
        var fitted = new List<int>(MaxTokens);
        if (bos == 1) fitted.Add(ids[0]);
        for (var i = ids.Count - keep; i < ids.Count; i++) fitted.Add(ids[i]);
        return (fitted, true);
    }
}
