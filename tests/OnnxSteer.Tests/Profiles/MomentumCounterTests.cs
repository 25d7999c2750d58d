using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using Xunit;
using static OnnxSteer.Tests.Profiles.ProfileFixtures;

namespace OnnxSteer.Tests.Profiles;

public class MomentumCounterTests
{
    [Fact]
    public void Counts_signs_of_differences_and_zero_counts_for_neither()
    {
        var site = Site(SiteKind.MlpOut, 0, 3);
        var counter = new MomentumCounter([site]);
        counter.AddPair([[1f, 2f, -1f]], [[0.5f, 2f, 1f]]);     // diffs  0.5, 0, -2
        counter.AddPair([[-3f, 1e-7f, 5f]], [[-4f, 0f, 5f]]);  // diffs  1, 1e-7, 0
        counter.AddPair([[0f, -1f, 0.25f]], [[1f, 0f, 0f]]);   // diffs -1, -1, 0.25
        var p = counter.ToProfile("sha256:x", SteeringMethod.AuSteer);
        Assert.Equal(3, p.Pairs);
        Assert.Equal([2, 1, 1], p.Counts[0].Positive);
        Assert.Equal([1, 1, 1], p.Counts[0].Negative);
        // Sums in fixed point: 0.5, 1e-7 (as float, rounded to 2^-32) - 1, -1.75.
        Assert.Equal(FixedPoint.FromDouble(0.5), p.Counts[0].SumDiff![0]);
        Assert.Equal(FixedPoint.FromDouble((double)1e-7f) + FixedPoint.FromDouble(-1), p.Counts[0].SumDiff![1]);
        Assert.Equal(-1.75, FixedPoint.ToDouble(p.Counts[0].SumDiff![2]));
    }

    [Fact]
    public void A_sign_difference_too_small_for_float_subtraction_is_still_counted()
    {
        // 1 + 2^-23 and 1 differ in the last float bit: the momentum is positive, never rounded to zero.
        var counter = new MomentumCounter([Site(SiteKind.Attn, 0, 1)]);
        counter.AddPair([[1f + MathF.Pow(2, -23)]], [[1f]]);
        Assert.Equal(1, counter.ToProfile("f", SteeringMethod.AuSteer).Counts[0].Positive[0]);
    }

    [Fact]
    public void Non_finite_activations_are_an_error_not_a_count()
    {
        var counter = new MomentumCounter([Site(SiteKind.Attn, 2, 2)]);
        var e = Assert.Throws<OnnxSteerException>(() => counter.AddPair([[1f, float.NaN]], [[0f, 0f]]));
        Assert.Contains("attn.2 unit 1", e.Message);
        Assert.Throws<OnnxSteerException>(() => counter.AddPair([[float.PositiveInfinity, 0f]], [[0f, 0f]]));
    }

    [Fact]
    public void Fixed_point_rounds_once_and_refuses_what_it_cannot_hold()
    {
        Assert.Equal(1L << 32, FixedPoint.FromDouble(1));
        Assert.Equal(-3L, FixedPoint.FromDouble(-2.5 / FixedPoint.Scale)); // half away from zero
        Assert.Throws<OverflowException>(() => FixedPoint.FromDouble(double.NaN));
        Assert.Throws<OverflowException>(() => FixedPoint.FromDouble(1e9));
        Assert.Throws<OverflowException>(() => FixedPoint.Add(long.MaxValue, 1));
    }
}
