using OnnxSteer.Numerics;
using System.Numerics;
using OnnxSteer.Evaluation;
using Xunit;

namespace OnnxSteer.Tests.Evaluation;

/// <summary>Wilson intervals and McNemar's exact test against values worked out by hand (and an exact BigInteger sum).</summary>
public class StatisticsTests
{
    // Hand computation with z = 1.96: 8/10 → centre 0.99208/1.38416 = 0.71673, half 0.313624/1.38416 = 0.22658.
    // The code uses z = 1.959964; the difference moves the bounds by < 2e-5, so 5e-4 is a safe tolerance.
    [Theory]
    [InlineData(8, 10, 0.4902, 0.9433)]
    [InlineData(0, 10, 0.0, 0.2775)]
    [InlineData(10, 10, 0.7225, 1.0)]
    [InlineData(50, 100, 0.4038, 0.5962)]
    public void Wilson_MatchesHandComputation(int x, int n, double low, double high)
    {
        var ci = Statistics.Wilson(x, n);
        Assert.Equal(low, ci.Low, 5e-4);
        Assert.Equal(high, ci.High, 5e-4);
    }

    [Fact]
    public void Wilson_NoTrials_IsWholeRange() => Assert.Equal(new Interval(0, 1), Statistics.Wilson(0, 0));

    [Fact]
    public void Wilson_RejectsMoreSuccessesThanTrials() => Assert.Throws<ArgumentOutOfRangeException>(() => Statistics.Wilson(5, 4));

    // b=1, c=6: 2·(C(7,0)+C(7,1))/2^7 = 2·8/128. b=2, c=10: 2·(1+12+66)/4096. b=0, c=5: 2/32. b=c=3: 2·42/64 > 1 → 1.
    [Theory]
    [InlineData(1, 6, 0.125)]
    [InlineData(6, 1, 0.125)]
    [InlineData(2, 10, 158.0 / 4096)]
    [InlineData(0, 5, 0.0625)]
    [InlineData(3, 3, 1.0)]
    [InlineData(0, 0, 1.0)]
    [InlineData(0, 1, 1.0)]
    public void McNemarExact_MatchesHandComputation(int b, int c, double p) =>
        Assert.Equal(p, Statistics.McNemarExactP(b, c), 12);

    [Theory]
    [InlineData(40, 60)]
    [InlineData(480, 520)]
    [InlineData(100, 900)]
    public void McNemarExact_MatchesExactIntegerSum(int b, int c)
    {
        // Independent: exact binomial coefficients in BigInteger, one division at the end.
        var n = b + c;
        BigInteger coefficient = 1, tail = 0;
        for (var i = 0; i <= Math.Min(b, c); i++)
        {
            if (i > 0) coefficient = coefficient * (n - i + 1) / i;
            tail += coefficient;
        }
        var expected = Math.Min(1, Math.Exp(BigInteger.Log(2 * tail) - n * Math.Log(2)));
        var actual = Statistics.McNemarExactP(b, c);
        Assert.Equal(expected, actual, expected * 1e-9 + 1e-300);
    }

    [Fact]
    public void PairedCounts_CountsEachCombination()
    {
        bool[] first = [true, true, false, false, true, false, true];
        bool[] second = [true, false, true, false, true, true, false];
        var k = PairedCounts.Count(first, second);
        Assert.Equal(new PairedCounts(BothRight: 2, OnlyFirst: 2, OnlySecond: 2, BothWrong: 1), k);
        Assert.Equal(7, k.Total);
        Assert.Equal(4, k.FirstRight);
        Assert.Equal(4, k.SecondRight);
        Assert.Equal(0.0, k.Difference);
        Assert.Equal(Statistics.McNemarExactP(2, 2), k.McNemarP);
        Assert.Equal(1.0 / 3, new PairedCounts(0, 0, 1, 2).Difference, 12);
        Assert.Throws<ArgumentException>(() => PairedCounts.Count([true], [true, false]));
    }
}
