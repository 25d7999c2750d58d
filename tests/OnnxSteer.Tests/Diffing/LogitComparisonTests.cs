using OnnxSteer.Diffing;
using Xunit;

namespace OnnxSteer.Tests.Diffing;

public class LogitComparisonTests
{
    [Fact]
    public void Kl_top_tokens_and_max_logit_change_match_a_direct_computation()
    {
        var rng = new Random(3);
        var a = Enumerable.Range(0, 512).Select(_ => (float)(rng.NextDouble() * 10 - 5)).ToArray();
        var b = a.Select(x => x + (float)(rng.NextDouble() - 0.5)).ToArray();

        var r = LogitComparison.Compare(a, b);

        // Direct: softmax without the max shift (logits are small), KL = sum p log(p/q).
        var za = a.Sum(x => Math.Exp(x));
        var zb = b.Sum(x => Math.Exp(x));
        var kl = Enumerable.Range(0, a.Length).Sum(i => Math.Exp(a[i]) / za * Math.Log(Math.Exp(a[i]) / za / (Math.Exp(b[i]) / zb)));
        Assert.Equal(kl, r.KlAB, 1e-12);
        Assert.Equal(Enumerable.Range(0, a.Length).Max(i => Math.Abs((double)b[i] - a[i])), r.MaxAbsLogitDiff, 0.0);
        var topA = Enumerable.Range(0, a.Length).OrderByDescending(i => a[i]).Take(5).ToList();
        Assert.Equal(topA, r.TopA.Select(t => t.Id));
        for (var k = 0; k < 5; k++) Assert.Equal(Math.Exp(a[topA[k]]) / za, r.TopA[k].Probability, 1e-12);
        Assert.Equal(Enumerable.Range(0, b.Length).OrderByDescending(i => b[i]).Take(5), r.TopB.Select(t => t.Id));
    }

    [Fact]
    public void Identical_logits_have_zero_divergence_and_large_logits_do_not_overflow()
    {
        var a = new float[] { 1000f, 999f, -1000f, 0f };
        var r = LogitComparison.Compare(a, a);
        Assert.Equal(0, r.KlAB);
        Assert.Equal(0, r.MaxAbsLogitDiff);
        Assert.Equal(1 / (1 + Math.Exp(-1)), r.TopA[0].Probability, 1e-12);
    }
}
