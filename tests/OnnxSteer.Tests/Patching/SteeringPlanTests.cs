using Onnx;
using OnnxSteer.Patching;
using OnnxSteer.Sites;
using Xunit;

namespace OnnxSteer.Tests.Patching;

public class SteeringPlanTests
{
    private static readonly SteeringProvenance Prov = new("austeer", 1, 1, null);

    [Fact]
    public void Vector_is_one_plus_gamma_on_selected_units_and_one_elsewhere()
    {
        var d = new TinyDecoder();
        var plan = SteeringPlan.Scale(d.Sites(), [(SiteKind.Mlp, 0, 4, 0.25), (SiteKind.Mlp, 0, 0, -1.5)], Prov);
        var site = Assert.Single(plan.Sites);
        Assert.Equal(TinyDecoder.Intermediate, site.Vector.Length);
        Assert.Equal(1.25f, site.Vector[4]);
        Assert.Equal(-0.5f, site.Vector[0]);
        Assert.Equal(TinyDecoder.Intermediate - 2, site.Vector.Count(x => x == 1f));
        Assert.Equal([0, 4], site.Units.Select(u => u.Index));
    }

    [Theory]
    [InlineData("attn", 3, 0, 1.0, "does not exist")]
    [InlineData("mlp", 0, 12, 1.0, "beyond the site's width 12")]
    [InlineData("mlp", 0, -1, 1.0, "beyond the site's width")]
    [InlineData("mlp", 0, 1, double.NaN, "non-finite gamma")]
    [InlineData("mlp", 0, 1, double.PositiveInfinity, "non-finite gamma")]
    public void Bad_units_are_refused_with_the_reason(string kind, int layer, int index, double gamma, string reason)
    {
        var d = new TinyDecoder();
        var e = Assert.Throws<InvalidProfileException>(() =>
            SteeringPlan.Scale(d.Sites(), [(SiteKinds.Parse(kind), layer, index, gamma)], Prov, "p.json"));
        Assert.StartsWith("p.json: ", e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Factor_that_overflows_float16_is_refused()
    {
        var d = new TinyDecoder((int)TensorProto.Types.DataType.Float16);
        var e = Assert.Throws<InvalidProfileException>(() => SteeringPlan.Scale(d.Sites(), [(SiteKind.Mlp, 0, 1, 70000.0)], Prov));
        Assert.Contains("float16", e.Message);
    }

    [Fact]
    public void Duplicate_unit_is_refused()
    {
        var d = new TinyDecoder();
        var e = Assert.Throws<InvalidProfileException>(() => SteeringPlan.Scale(d.Sites(), [(SiteKind.Mlp, 0, 1, 1.0), (SiteKind.Mlp, 0, 1, 2.0)], Prov));
        Assert.Contains("listed twice", e.Message);
    }

    [Fact]
    public void Additive_vector_of_wrong_width_is_refused()
    {
        var d = new TinyDecoder();
        var e = Assert.Throws<InvalidProfileException>(() =>
            SteeringPlan.Add(d.Sites(), [(SiteKind.MlpOut, 0, new float[3])], new SteeringProvenance("caa", null, 1, null)));
        Assert.Contains("width is 8", e.Message);
    }

    [Theory]
    [InlineData(1.0f)]
    [InlineData(-2.5f)]
    [InlineData(3.14159f)]
    [InlineData(1e-3f)]
    public void BFloat16_rounds_to_nearest_even(float x)
    {
        // Independent reference: the two bfloat16 neighbours of x, pick the nearer (even on a tie).
        var bits = BitConverter.SingleToUInt32Bits(x);
        var down = BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
        var up = BitConverter.UInt32BitsToSingle((bits & 0xFFFF0000u) + 0x10000u);
        var expected = Math.Abs(x - down) < Math.Abs(up - x) ? down
            : Math.Abs(x - down) > Math.Abs(up - x) ? up
            : ((bits >> 16) & 1) == 0 ? down : up;
        Assert.Equal(expected, ElementEncoding.RoundTrip(x, (int)TensorProto.Types.DataType.Bfloat16));
    }
}
