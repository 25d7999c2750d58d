using OnnxSteer.Numerics;

namespace OnnxSteer.Profiles;

/// <summary>
/// The evidence behind one unit's score, from a profile's exact statistics: a significance that knows N (the sign
/// test), corrected for the number of units ranked (Bonferroni), an effect size that knows magnitudes, and the mean
/// activation on each side so the direction of the shift is known.
/// </summary>
internal static class UnitEvidence
{
    /// <summary>The significance level the warnings use.</summary>
    public const double Level = 0.05;

    /// <summary>
    /// Two-sided exact sign test: under "the unit does not separate the sides" each non-zero momentum is positive with
    /// probability 1/2, so the larger count is tested against Binomial(pos + neg, 1/2). Zeros are left out, as the
    /// score leaves them out. (The computation is McNemar's exact test, the same binomial tail.)
    /// </summary>
    public static double SignTestP(int positive, int negative) => Statistics.McNemarExactP(positive, negative);

    /// <summary>Bonferroni: <paramref name="p"/> times the number of units tested, at most 1.</summary>
    public static double Bonferroni(double p, int family) => Math.Min(1, p * Math.Max(1, family));

    /// <summary>
    /// The smallest two-sided sign-test p any unit can reach with <paramref name="pairs"/> pairs: all N momenta on one
    /// side gives 2·2^−N. When that times the family is ≥ <see cref="Level"/>, no unit can be significant.
    /// </summary>
    public static double BestPossibleP(int pairs) => Math.Min(1, 2 * Math.Pow(0.5, pairs));

    /// <summary>The fewest pairs for which a unit separating every pair is significant after Bonferroni over <paramref name="family"/>.</summary>
    public static int PairsNeeded(int family)
    {
        var n = 1;
        while (Bonferroni(BestPossibleP(n), family) >= Level && n < 1000) n++;
        return n;
    }

    /// <summary>
    /// Cohen's d_z = mean(m) / sd(m) from the fixed-point sums; null when N &lt; 2 or sd is 0 (then the sign of the mean
    /// is all there is; <see cref="RankingEffect"/> treats it as infinitely strong unless the mean is 0 too).
    /// </summary>
    public static double? EffectSize(long sumDiff, Int128 sumSqDiff, int pairs)
    {
        if (pairs < 2) return null;
        var mean = FixedPoint.ToDouble(sumDiff) / pairs;
        var meanSq = FixedPoint.ToDouble(sumSqDiff) / pairs;
        // Squares are rounded once each, so the variance can come out a hair below 0 for constant differences.
        var variance = Math.Max(0, (meanSq - mean * mean) * pairs / (pairs - 1));
        var sd = Math.Sqrt(variance);
        return sd > 0 ? mean / sd : null;
    }

    /// <summary>|effect size| for ordering ties: an undefined effect with a non-zero mean (every difference equal) ranks first.</summary>
    public static double RankingEffect(long sumDiff, Int128 sumSqDiff, int pairs) =>
        EffectSize(sumDiff, sumSqDiff, pairs) is { } d ? Math.Abs(d) : sumDiff != 0 ? double.PositiveInfinity : 0;

    /// <summary>The mean of a fixed-point sum over <paramref name="pairs"/>.</summary>
    public static double Mean(long sum, int pairs) => FixedPoint.ToDouble(sum) / pairs;
}
