namespace OnnxSteer.Recording;

/// <summary>
/// Pairs cut where their two sides part: the first <see cref="PrefixLength"/> tokens are the same on both sides of
/// every pair (the prompt, as the method puts the answer after it), so they are run once per pair, and the rest of each
/// side (its suffix) is run after them from their KV cache. Where a pair is cut depends on the pair alone
/// (<see cref="PrefixOf"/>) and a split holds pairs cut at one length, so no prefix is padded. Suffixes are
/// right-padded to the longest with the attention mask left at 1: in a causal model a token never sees the ones after
/// it, so a suffix's last row is what it would be alone, and every attention kernel (onnxruntime-genai's
/// GroupQueryAttention included, which reads lengths from the mask) sees a batch without holes.
/// </summary>
internal sealed class PromptSplit
{
    /// <summary>Pairs in the batch.</summary>
    public int Pairs { get; }

    /// <summary>Tokens every pair's prefix holds (m).</summary>
    public int PrefixLength { get; }

    /// <summary>Padded suffix length S (the longest suffix).</summary>
    public int SuffixLength { get; }

    /// <summary>[Pairs × m] each pair's prefix, row-major.</summary>
    public long[] PrefixIds { get; }

    /// <summary>[2·Pairs × S] the suffixes, positive then negative side of each pair, right-padded with token 0.</summary>
    public long[] SuffixIds { get; }

    /// <summary>[2·Pairs] flat row b·S + (suffix length − 1) of each suffix's last token.</summary>
    public long[] LastRows { get; }

    private PromptSplit(int pairs, int prefix, int suffix, long[] prefixIds, long[] suffixIds, long[] lastRows)
    {
        Pairs = pairs;
        PrefixLength = prefix;
        SuffixLength = suffix;
        PrefixIds = prefixIds;
        SuffixIds = suffixIds;
        LastRows = lastRows;
    }

    /// <summary>Most tokens a side may have after the shared prompt for its pair to be split: each is a run of its own.</summary>
    public const int MostOwnTokens = 8;

    /// <summary>
    /// Where <paramref name="pair"/> is cut: the tokens its two sides share, leaving each side at least one of its own;
    /// 0 when it is not worth cutting (its sides' own tokens would take more runs than the shared prompt saves: more than
    /// <see cref="MostOwnTokens"/>, or more than the prompt itself). A function of the pair alone, so a pair is recorded
    /// the same way in every batch (and every shard).
    /// </summary>
    public static int PrefixOf((IReadOnlyList<int> Positive, IReadOnlyList<int> Negative) pair)
    {
        var prefix = Shared(pair.Positive, pair.Negative);
        var own = Math.Max(pair.Positive.Count, pair.Negative.Count) - prefix;
        return prefix >= 1 && own <= MostOwnTokens && own <= prefix ? prefix : 0;
    }

    /// <summary>Splits <paramref name="pairs"/>, which must all have the same <see cref="PrefixOf"/> (at least 1).</summary>
    public static PromptSplit Of(IReadOnlyList<(IReadOnlyList<int> Positive, IReadOnlyList<int> Negative)> pairs)
    {
        if (pairs.Count == 0) throw new ArgumentException("no pairs", nameof(pairs));
        var prefix = PrefixOf(pairs[0]);
        if (prefix < 1 || pairs.Any(p => PrefixOf(p) != prefix)) throw new ArgumentException("the pairs are not cut at one length", nameof(pairs));
        var suffix = pairs.Max(p => Math.Max(p.Positive.Count, p.Negative.Count)) - prefix;
        var prefixIds = new long[pairs.Count * prefix];
        var suffixIds = new long[2 * pairs.Count * suffix];
        var lastRows = new long[2 * pairs.Count];
        for (var i = 0; i < pairs.Count; i++)
        {
            for (var t = 0; t < prefix; t++) prefixIds[i * prefix + t] = pairs[i].Positive[t];
            IReadOnlyList<int>[] sides = [pairs[i].Positive, pairs[i].Negative];
            for (var side = 0; side < 2; side++)
            {
                var row = 2 * i + side;
                var ids = sides[side];
                for (var t = prefix; t < ids.Count; t++) suffixIds[row * suffix + t - prefix] = ids[t];
                lastRows[row] = (long)row * suffix + ids.Count - prefix - 1;
            }
        }
        return new PromptSplit(pairs.Count, prefix, suffix, prefixIds, suffixIds, lastRows);
    }

    /// <summary>Length of the common prefix of <paramref name="a"/> and <paramref name="b"/>, leaving each at least one token.</summary>
    private static int Shared(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        var limit = Math.Min(a.Count, b.Count) - 1;
        var n = 0;
        while (n < limit && a[n] == b[n]) n++;
        return n;
    }
}
