using OnnxSteer.Sites;

namespace OnnxSteer.Profiles;

/// <summary>
/// Accumulates activation momenta m = x(pos) − x(neg) per unit over pairs: exact counts of m &gt; 0 and m &lt; 0
/// (zero counts for neither), the fixed-point sums of m and of m² (see <see cref="FixedPoint"/>) and the fixed-point sums
/// of the activation on each side, so that an effect size and each side's mean can be derived and shards still add up
/// exactly. Feed it one pair at a time
/// with <see cref="AddPair"/>, then turn it into a profile with <see cref="ToProfile"/>.
/// </summary>
internal sealed class MomentumCounter
{
    private readonly int[][] _positive;
    private readonly int[][] _negative;
    private readonly long[][] _sum;
    private readonly Int128[][] _sumSq;
    private readonly long[][] _sumPos;
    private readonly long[][] _sumNeg;

    /// <summary>The sites counted, in order.</summary>
    public IReadOnlyList<ProfileSite> Sites { get; }

    /// <summary>Pairs added so far.</summary>
    public int Pairs { get; private set; }

    public MomentumCounter(IEnumerable<ProfileSite> sites)
    {
        Sites = sites.ToList();
        _positive = Sites.Select(s => new int[s.Width]).ToArray();
        _negative = Sites.Select(s => new int[s.Width]).ToArray();
        _sum = Sites.Select(s => new long[s.Width]).ToArray();
        _sumSq = Sites.Select(s => new Int128[s.Width]).ToArray();
        _sumPos = Sites.Select(s => new long[s.Width]).ToArray();
        _sumNeg = Sites.Select(s => new long[s.Width]).ToArray();
    }

    /// <summary>
    /// Adds one pair: <paramref name="positive"/>[s] and <paramref name="negative"/>[s] are the last-token activations
    /// of site s for the correct and the wrong answer.
    /// </summary>
    /// <exception cref="OnnxSteerException">A row has the wrong width or holds a non-finite value.</exception>
    public void AddPair(IReadOnlyList<float[]> positive, IReadOnlyList<float[]> negative)
    {
        if (positive.Count != Sites.Count || negative.Count != Sites.Count)
            throw new ArgumentException($"expected {Sites.Count} site rows per sequence");
        for (var s = 0; s < Sites.Count; s++)
            AddSite(s, positive[s], negative[s]);
        Pairs++;
    }

    private void AddSite(int s, ReadOnlySpan<float> pos, ReadOnlySpan<float> neg)
    {
        var width = Sites[s].Width;
        if (pos.Length != width || neg.Length != width)
            throw new ArgumentException($"site {Sites[s].Id}: rows of width {pos.Length}/{neg.Length}, expected {width}");
        int[] p = _positive[s], n = _negative[s];
        long[] sum = _sum[s], sumPos = _sumPos[s], sumNeg = _sumNeg[s];
        var sumSq = _sumSq[s];
        for (var i = 0; i < width; i++)
        {
            // The difference of two floats is computed in double (exact for floats of similar magnitude, and
            // deterministic always), so its sign is exactly the sign of pos - neg.
            var d = (double)pos[i] - neg[i];
            if (double.IsNaN(d))
                throw new OnnxSteerException($"site {Sites[s].Id} unit {i}: the model produced a non-finite activation");
            if (d > 0) p[i]++;
            else if (d < 0) n[i]++;
            try
            {
                var fixedD = FixedPoint.FromDouble(d);
                sum[i] = FixedPoint.Add(sum[i], fixedD);
                sumSq[i] = FixedPoint.Add(sumSq[i], FixedPoint.Square(fixedD));
                sumPos[i] = FixedPoint.Add(sumPos[i], FixedPoint.FromDouble(pos[i]));
                sumNeg[i] = FixedPoint.Add(sumNeg[i], FixedPoint.FromDouble(neg[i]));
            }
            catch (OverflowException e)
            {
                throw new OnnxSteerException($"site {Sites[s].Id} unit {i}: {e.Message}", e);
            }
        }
    }

    /// <summary>The statistics gathered so far as a profile without a selection (fill it with <see cref="UnitSelector"/>).</summary>
    public SteeringProfile ToProfile(string modelFingerprint, SteeringMethod method) => new()
    {
        ModelFingerprint = modelFingerprint,
        Sites = Sites.ToList(),
        Pairs = Pairs,
        Method = method,
        Counts = Sites.Select((site, s) => new SiteStatistics
        {
            Site = site.Id,
            Positive = (int[])_positive[s].Clone(),
            Negative = (int[])_negative[s].Clone(),
            SumDiff = (long[])_sum[s].Clone(),
            SumSqDiff = (Int128[])_sumSq[s].Clone(),
            SumActivationPos = (long[])_sumPos[s].Clone(),
            SumActivationNeg = (long[])_sumNeg[s].Clone(),
        }).ToList(),
    };
}
