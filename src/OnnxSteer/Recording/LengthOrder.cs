namespace OnnxSteer.Recording;

/// <summary>
/// The order pairs are recorded in: by length, so that each batch holds sequences of about one length. A batch is
/// padded to its longest sequence and a padded token costs what a real one does; pairs taken as they come (short and
/// long prompts mixed) spent a large part of profiling on padding. The sort is stable, so the same pairs always come in
/// the same order (a checkpoint resumes the same work). When the recorder runs each pair's prompt once
/// (<see cref="ActivationRecorder.SharesPrompts"/>), pairs cut at one length come together first, so that a batch is
/// mostly one prefix run (<see cref="PromptSplit"/>).
/// </summary>
internal static class LengthOrder
{
    /// <summary>Indices into <paramref name="pairs"/>, shortest pair (its longer side) first; with
    /// <paramref name="bySharedPrompt"/>, by where each pair is cut (<see cref="PromptSplit.PrefixOf"/>) first.</summary>
    public static int[] Of(IReadOnlyList<EncodedPair> pairs, bool bySharedPrompt = false) =>
        Enumerable.Range(0, pairs.Count)
            .OrderBy(i => bySharedPrompt ? PromptSplit.PrefixOf((pairs[i].Positive, pairs[i].Negative)) : 0)
            .ThenBy(i => Longer(pairs[i])).ToArray();

    /// <summary>Tokens the runtime computes, padding included, for <paramref name="order"/> in batches of <paramref name="pairsPerBatch"/> pairs.</summary>
    public static long PaddedTokens(IReadOnlyList<EncodedPair> pairs, IReadOnlyList<int> order, int pairsPerBatch)
    {
        long tokens = 0;
        for (var start = 0; start < order.Count; start += pairsPerBatch)
        {
            var batch = order.Skip(start).Take(pairsPerBatch).Select(i => pairs[i]).ToList();
            tokens += 2L * batch.Count * batch.Max(Longer);
        }
        return tokens;
    }

    private static int Longer(EncodedPair pair) => Math.Max(pair.Positive.Count, pair.Negative.Count);
}
