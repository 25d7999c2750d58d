namespace OnnxSteer.Diffing;

/// <summary>A token id with its probability and logit under one model.</summary>
internal readonly record struct RankedToken(int Id, double Probability, double Logit);

/// <summary>Two next-token distributions compared: top tokens of each, KL(A||B) and the largest logit change.</summary>
/// <param name="TopA">Model A's most likely tokens, best first.</param>
/// <param name="TopB">Model B's most likely tokens, best first.</param>
/// <param name="KlAB">KL(P_A || P_B) in nats.</param>
/// <param name="MaxAbsLogitDiff">max_i |b_i - a_i| over raw logits.</param>
internal sealed record LogitComparisonResult(IReadOnlyList<RankedToken> TopA, IReadOnlyList<RankedToken> TopB, double KlAB, double MaxAbsLogitDiff);

/// <summary>Compares two logit vectors over one vocabulary, in double precision.</summary>
internal static class LogitComparison
{
    /// <summary>Top-<paramref name="k"/> tokens of each (ties to the lower id), KL(softmax(a) || softmax(b)) and max |b - a|.</summary>
    public static LogitComparisonResult Compare(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int k = 5)
    {
        if (a.Length != b.Length || a.Length == 0)
            throw new ArgumentException($"logit vectors must be non-empty and of one length (got {a.Length} and {b.Length})");
        var logA = LogSoftmax(a);
        var logB = LogSoftmax(b);
        double kl = 0, maxAbs = 0;
        for (var i = 0; i < a.Length; i++)
        {
            var p = Math.Exp(logA[i]);
            if (p > 0) kl += p * (logA[i] - logB[i]);
            maxAbs = Math.Max(maxAbs, Math.Abs((double)b[i] - a[i]));
        }
        return new LogitComparisonResult(Top(a, logA, k), Top(b, logB, k), Math.Max(0, kl), maxAbs);
    }

    /// <summary>log softmax, shifted by the maximum so large logits do not overflow.</summary>
    public static double[] LogSoftmax(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v);
        double sum = 0;
        foreach (var v in logits) sum += Math.Exp(v - max);
        var logZ = max + Math.Log(sum);
        var result = new double[logits.Length];
        for (var i = 0; i < logits.Length; i++) result[i] = logits[i] - logZ;
        return result;
    }

    private static List<RankedToken> Top(ReadOnlySpan<float> logits, double[] logProbs, int k)
    {
        var order = Enumerable.Range(0, logits.Length).ToArray();
        var copy = logits.ToArray();
        Array.Sort(order, (x, y) => copy[y].CompareTo(copy[x]) is var c && c != 0 ? c : x.CompareTo(y));
        return order.Take(k).Select(i => new RankedToken(i, Math.Exp(logProbs[i]), copy[i])).ToList();
    }
}
