using OnnxSteer.Profiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Tests.Profiles;

/// <summary>Small hand-made profiles whose rankings are worked out by hand in the tests.</summary>
internal static class ProfileFixtures
{
    public static ProfileSite Site(SiteKind kind, int layer, int width) => new()
    {
        Id = $"{kind.ToName()}.{layer}", Kind = kind, Layer = layer, Width = width,
        ProjectionNode = $"/layers.{layer}/{kind.ToName()}/MatMul", ProjectionOpType = "MatMul",
        Value = $"/layers.{layer}/{kind.ToName()}/in", Dtype = "float",
    };

    public static SiteStatistics Stats(ProfileSite site, int[] pos, int[] neg, long[]? sum = null) => new()
    {
        Site = site.Id, Positive = pos, Negative = neg, SumDiff = sum ?? new long[pos.Length],
    };

    /// <summary>
    /// N = 4. attn.0: pos [3,1,2] neg [1,3,2]; attn.1: pos [0,4] neg [3,0]; mlp.0: pos [4,0] neg [0,1].
    /// Sums (real values) attn.0 [0.5,-2,0.25], attn.1 [-1,3], mlp.0 [8,-0.125].
    /// </summary>
    public static SteeringProfile Hand()
    {
        var a0 = Site(SiteKind.Attn, 0, 3);
        var a1 = Site(SiteKind.Attn, 1, 2);
        var m0 = Site(SiteKind.Mlp, 0, 2);
        long F(double x) => FixedPoint.FromDouble(x);
        return new SteeringProfile
        {
            ModelFingerprint = "sha256:test",
            Sites = [a0, a1, m0],
            Pairs = 4,
            Counts =
            [
                Stats(a0, [3, 1, 2], [1, 3, 2], [F(0.5), F(-2), F(0.25)]),
                Stats(a1, [0, 4], [3, 0], [F(-1), F(3)]),
                Stats(m0, [4, 0], [0, 1], [F(8), F(-0.125)]),
            ],
        };
    }

    public static string Describe(IEnumerable<SelectedUnit> units) =>
        string.Join(" ", units.Select(u => $"{u.Site}[{u.Index}]"));
}
