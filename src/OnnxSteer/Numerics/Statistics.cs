namespace OnnxSteer.Numerics;

/// <summary>A two-sided confidence interval for a proportion.</summary>
/// <param name="Low">Lower bound, in [0, 1].</param>
/// <param name="High">Upper bound, in [0, 1].</param>
public readonly record struct Interval(double Low, double High);

/// <summary>How two systems did on the same items: each item counted by which of them got it right.</summary>
/// <param name="BothRight">Items both got right.</param>
/// <param name="OnlyFirst">Items only the first (e.g. the original model) got right.</param>
/// <param name="OnlySecond">Items only the second (e.g. the steered model) got right.</param>
/// <param name="BothWrong">Items both got wrong.</param>
public readonly record struct PairedCounts(int BothRight, int OnlyFirst, int OnlySecond, int BothWrong)
{
    /// <summary>All items.</summary>
    public int Total => BothRight + OnlyFirst + OnlySecond + BothWrong;

    /// <summary>Items the first got right.</summary>
    public int FirstRight => BothRight + OnlyFirst;

    /// <summary>Items the second got right.</summary>
    public int SecondRight => BothRight + OnlySecond;

    /// <summary>Second's accuracy minus first's (0 when there are no items).</summary>
    public double Difference => Total == 0 ? 0 : (double)(OnlySecond - OnlyFirst) / Total;

    /// <summary>McNemar's exact two-sided p-value over the discordant items.</summary>
    public double McNemarP => Statistics.McNemarExactP(OnlyFirst, OnlySecond);

    /// <summary>Counts the items of two equally long correctness lists, item i of one against item i of the other.</summary>
    /// <exception cref="ArgumentException">The lists differ in length.</exception>
    public static PairedCounts Count(IReadOnlyList<bool> first, IReadOnlyList<bool> second)
    {
        if (first.Count != second.Count) throw new ArgumentException($"paired lists differ in length: {first.Count} and {second.Count}");
        int both = 0, onlyFirst = 0, onlySecond = 0, neither = 0;
        for (var i = 0; i < first.Count; i++)
        {
            if (first[i] && second[i]) both++;
            else if (first[i]) onlyFirst++;
            else if (second[i]) onlySecond++;
            else neither++;
        }
        return new PairedCounts(both, onlyFirst, onlySecond, neither);
    }
}

/// <summary>The statistics evaluation reports: Wilson score intervals and McNemar's exact test.</summary>
internal static class Statistics
{
    /// <summary>The 0.975 quantile of the standard normal: a 95% two-sided interval.</summary>
    public const double Z95 = 1.959963984540054;

    /// <summary>
    /// Wilson score interval for <paramref name="successes"/> out of <paramref name="trials"/>. Unlike the normal
    /// approximation it stays inside [0, 1] and is sensible at 0 or n successes, which small evaluations hit. No
    /// trials gives [0, 1]: nothing is known.
    /// </summary>
    public static Interval Wilson(int successes, int trials, double z = Z95)
    {
        if (trials < 0 || successes < 0 || successes > trials)
            throw new ArgumentOutOfRangeException(nameof(successes), $"{successes} successes of {trials} trials");
        if (trials == 0) return new Interval(0, 1);
        double n = trials, p = successes / n, z2 = z * z;
        var denominator = 1 + z2 / n;
        var centre = (p + z2 / (2 * n)) / denominator;
        var half = z * Math.Sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator;
        return new Interval(Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    /// <summary>
    /// McNemar's exact test: under the null hypothesis each of the <paramref name="onlyFirst"/> + <paramref name="onlySecond"/>
    /// discordant items is equally likely to favour either side, so the smaller count is Binomial(b + c, 1/2). Two-sided
    /// p = min(1, 2·P(X ≤ min(b, c))); no discordant items gives 1.
    /// </summary>
    public static double McNemarExactP(int onlyFirst, int onlySecond)
    {
        if (onlyFirst < 0 || onlySecond < 0) throw new ArgumentOutOfRangeException(nameof(onlyFirst), "counts must be ≥ 0");
        var n = onlyFirst + onlySecond;
        if (n == 0) return 1;
        var k = Math.Min(onlyFirst, onlySecond);
        // Sum in log space so thousands of discordant items do not underflow 2^-n.
        var logHalfN = -n * Math.Log(2);
        double logC = 0, tail = 0;
        for (var i = 0; i <= k; i++)
        {
            if (i > 0) logC += Math.Log(n - i + 1) - Math.Log(i);
            tail += Math.Exp(logC + logHalfN);
        }
        return Math.Min(1, 2 * tail);
    }
}
