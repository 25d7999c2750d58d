using static OnnxSteer.ErrorText;

namespace OnnxSteer.Pairs;

/// <summary>
/// One contrastive pair: the same prompt followed by a correct and by a wrong answer. The answers are appended to
/// the prompt as they are, with no separator (docs/method.md, "Localisation").
/// </summary>
/// <param name="Prompt">The prompt text.</param>
/// <param name="Positive">The correct answer, appended as is.</param>
/// <param name="Negative">The wrong answer, appended as is.</param>
/// <param name="Origin">Where the pair came from, e.g. <c>pairs.jsonl:12</c>, for messages; empty for pairs made in code.</param>
public sealed record ContrastivePair(string Prompt, string Positive, string Negative, string Origin = "")
{
    /// <summary>Prompt + correct answer.</summary>
    public string PositiveText => Prompt + Positive;

    /// <summary>Prompt + wrong answer.</summary>
    public string NegativeText => Prompt + Negative;
}

/// <summary>
/// The pairs read from a source (<see cref="PairsJsonl.Read"/>, <see cref="TaskPairs.Build"/>), with how many bad
/// records were skipped: what profiling takes, to record the source's description in the profile.
/// </summary>
/// <param name="Pairs">The usable pairs, in source order.</param>
/// <param name="SkippedBad">Bad records skipped (only with <see cref="PairOptions.SkipBad"/>).</param>
/// <param name="Description">The source and range, e.g. <c>boolq dev.jsonl skip 0 limit 100</c>; merge compares it.</param>
/// <param name="SkipReasons">The first few skipped records and why, for the user.</param>
public sealed record PairSet(IReadOnlyList<ContrastivePair> Pairs, int SkippedBad, string Description, IReadOnlyList<string> SkipReasons);

/// <summary>Which records of a source to use; the default takes them all and stops at the first bad one.</summary>
/// <param name="Skip">Records (lines, items) to pass over first, bad or not: keeps profiling and evaluation ranges disjoint.</param>
/// <param name="Limit">At most this many pairs (null = all).</param>
/// <param name="SkipBad">Skip bad records and count them, instead of stopping at the first.</param>
public sealed record PairOptions(int Skip = 0, int? Limit = null, bool SkipBad = false);

/// <summary>A record that cannot become a pair; <see cref="PairCollector"/> turns it into an error naming the record.</summary>
public sealed class BadRecordException(ErrorText message) : Exception(message.ToString())
{
    /// <summary>The message with its parameter mentions kept (see <see cref="ErrorText"/>).</summary>
    public ErrorText Text { get; } = message;
}

/// <summary>Applies <see cref="PairOptions"/> to a stream of records: skip, limit, and bad-record handling.</summary>
internal static class PairCollector
{
    /// <summary>
    /// Builds pairs from <paramref name="records"/> (origin, builder). A builder throws <see cref="BadRecordException"/>
    /// for a bad record: an <see cref="InvalidProfileException"/> naming the record, or a count with SkipBad.
    /// </summary>
    public static PairSet Collect(IEnumerable<(string Origin, Func<ContrastivePair> Build)> records, PairOptions options, string description)
    {
        if (options.Skip < 0) throw new InvalidParameterException("skip", $"{Param("skip")} {options.Skip}: must be ≥ 0");
        if (options.Limit is < 0) throw new InvalidParameterException("limit", $"pair limit {options.Limit}: must be ≥ 0");
        var pairs = new List<ContrastivePair>();
        var skipped = 0;
        var reasons = new List<string>();
        foreach (var (origin, build) in records.Skip(options.Skip))
        {
            if (options.Limit is { } limit && pairs.Count >= limit) break;
            try
            {
                pairs.Add(Check(build(), origin));
            }
            catch (BadRecordException e)
            {
                if (!options.SkipBad) throw new InvalidProfileException($"{origin}: {e.Message} ({Param("skipBad")} skips such records)");
                skipped++;
                if (reasons.Count < 5) reasons.Add($"{origin}: {e.Message}");
            }
        }
        var range = $"skip {options.Skip}" + (options.Limit is { } l ? $" limit {l}" : "");
        return new PairSet(pairs, skipped, $"{description} {range}", reasons);
    }

    private static ContrastivePair Check(ContrastivePair pair, string origin)
    {
        if (pair.Positive.Length == 0) throw new BadRecordException("the positive answer is empty");
        if (pair.Negative.Length == 0) throw new BadRecordException("the negative answer is empty");
        if (pair.Positive == pair.Negative) throw new BadRecordException("the positive and negative answers are identical");
        return pair with { Origin = origin };
    }
}
