using OnnxSteer.Numerics;

namespace OnnxSteer.Evaluation;

/// <summary>
/// How far a loglik answer is from flipping: per item, the right choice's summed log-probability minus the best wrong
/// choice's (nats; &gt; 0 is right). A continuous score per item, so two models on the same items can be compared by a
/// paired interval that resolves smaller differences than counting right answers does.
/// </summary>
internal static class Margins
{
    /// <summary>The margin of every item of <paramref name="result"/> (matched to <paramref name="items"/> by position); null unless every item was scored by log-likelihood.</summary>
    public static IReadOnlyList<double>? Of(EvalResult result, IReadOnlyList<EvalItem> items)
    {
        if (result.Mode != EvalMode.Loglik || result.Items.Any(i => i.LogLikelihoods is null)) return null;
        return result.Items.Select((r, n) =>
        {
            var gold = items[n].Gold;
            var sums = r.LogLikelihoods!;
            var wrong = sums.Where((_, i) => i != gold).DefaultIfEmpty(double.NegativeInfinity).Max();
            return sums[gold] - wrong;
        }).ToList();
    }
}

/// <summary>
/// The mean of paired differences (second − first, item by item) with a 95% t interval: mean ± t(0.975, n−1)·sd/√n.
/// </summary>
/// <param name="Mean">Mean difference.</param>
/// <param name="Low">Lower bound of the 95% interval.</param>
/// <param name="High">Upper bound.</param>
/// <param name="Items">Pairs.</param>
public readonly record struct MeanDifference(double Mean, double Low, double High, int Items)
{
    /// <summary>The paired difference of two equally long lists; fewer than two items give an unbounded interval.</summary>
    public static MeanDifference Paired(IReadOnlyList<double> first, IReadOnlyList<double> second)
    {
        if (first.Count != second.Count) throw new ArgumentException($"paired lists differ in length: {first.Count} and {second.Count}");
        var n = first.Count;
        if (n == 0) return new MeanDifference(0, double.NegativeInfinity, double.PositiveInfinity, 0);
        var d = first.Zip(second, (a, b) => b - a).ToArray();
        var mean = d.Average();
        if (n < 2) return new MeanDifference(mean, double.NegativeInfinity, double.PositiveInfinity, n);
        var sd = Math.Sqrt(d.Sum(x => (x - mean) * (x - mean)) / (n - 1));
        var half = StudentT975(n - 1) * sd / Math.Sqrt(n);
        return new MeanDifference(mean, mean - half, mean + half, n);
    }

    /// <summary>True when the interval leaves out 0: the difference is resolved at the 5% level.</summary>
    public bool Resolved => Low > 0 || High < 0;

    /// <summary>
    /// The 0.975 quantile of Student's t with <paramref name="df"/> degrees of freedom, by the Cornish–Fisher expansion
    /// around the normal quantile (four terms) from 5 degrees of freedom on, within 0.001 of the table and exact as df
    /// grows; table values below that, where the expansion is poor.
    /// </summary>
    internal static double StudentT975(int df)
    {
        if (df < 1) throw new ArgumentOutOfRangeException(nameof(df), "degrees of freedom must be ≥ 1");
        switch (df)
        {
            case 1: return 12.706204736174698;
            case 2: return 4.302652729749464;
            case 3: return 3.182446305284263;
            case 4: return 2.7764451051977987;
        }
        double z = Statistics.Z95, v = df, z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z, z9 = z7 * z * z;
        return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v) + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v * v * v)
               + (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * v * v * v * v);
    }
}
