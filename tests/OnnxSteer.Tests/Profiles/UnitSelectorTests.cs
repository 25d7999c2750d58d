using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using Xunit;
using static OnnxSteer.Tests.Profiles.ProfileFixtures;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Profiles;

public class UnitSelectorTests
{
    [Fact]
    public void AuSteer_ranks_one_kind_across_layers_with_ties_to_lower_layer_then_dimension()
    {
        // Scores (max count): attn.0 [3,3,2], attn.1 [3,4]. Best is attn.1[1] (4); the three 3s tie and go
        // lower layer first, then lower dimension: attn.0[0], attn.0[1], then attn.1[0].
        var p = UnitSelector.Select(Hand(), 4, 10, [SiteKind.Attn], false, SteeringMethod.AuSteer);
        Assert.Equal("attn.1[1] attn.0[0] attn.0[1] attn.1[0]", Describe(p.Units));
        Assert.Equal([1.0, 0.75, 0.75, 0.75], p.Units.Select(u => u.Score));
        Assert.Equal([1.0, 0.75, 0.25, 0.0], p.Units.Select(u => u.RPos));
        Assert.Equal([0.0, 0.25, 0.75, 0.75], p.Units.Select(u => u.RNeg));
        // gamma = 10*r_pos if r_pos >= r_neg else -10*r_neg.
        Assert.Equal([10.0, 7.5, -7.5, -7.5], p.Units.Select(u => u.Gamma));
        Assert.Equal(1, p.Units[0].Layer);
    }

    [Fact]
    public void Exact_tie_between_r_pos_and_r_neg_gets_the_positive_sign()
    {
        // attn.0[2] has 2 positive and 2 negative momenta of 4: gamma = +alpha * 0.5.
        var p = UnitSelector.Select(Hand(), 5, 6, [SiteKind.Attn], false, SteeringMethod.AuSteer);
        var unit = Assert.Single(p.Units, u => u is { Site: "attn.0", Index: 2 });
        Assert.Equal(3.0, unit.Gamma);
        Assert.Equal(0.5, UnitSelector.Gamma(2, 2, 4, 1));
        Assert.Equal(-0.25, UnitSelector.Gamma(0, 1, 4, 1)); // zeros counted for neither: 3 of 4 pairs were 0
    }

    [Fact]
    public void Kinds_are_ranked_separately_unless_rank_jointly()
    {
        var separate = UnitSelector.Select(Hand(), 1, 1, [SiteKind.Mlp, SiteKind.Attn], false, SteeringMethod.AuSteer);
        Assert.Equal("attn.1[1] mlp.0[0]", Describe(separate.Units)); // top 1 of each kind, kinds in order attn, mlp
        // Jointly: attn.1[1] and mlp.0[0] both score 4/4; the lower layer (mlp.0) wins.
        var joint = UnitSelector.Select(Hand(), 2, 1, [SiteKind.Attn, SiteKind.Mlp], true, SteeringMethod.AuSteer);
        Assert.Equal("mlp.0[0] attn.1[1]", Describe(joint.Units));
        Assert.True(joint.Selection.RankJointly);
        Assert.Equal([SiteKind.Attn, SiteKind.Mlp], joint.Selection.Sites);
    }

    [Fact]
    public void ActDiff_ranks_by_absolute_mean_difference_and_keeps_the_momentum_gamma()
    {
        // |sums| attn: 0.5, 2, 0.25, 1, 3 -> attn.1[1] (3), attn.0[1] (2), attn.1[0] (1).
        var p = UnitSelector.Select(Hand(), 3, 2, [SiteKind.Attn], false, SteeringMethod.ActDiff);
        Assert.Equal("attn.1[1] attn.0[1] attn.1[0]", Describe(p.Units));
        Assert.Equal([0.75, 0.5, 0.25], p.Units.Select(u => u.Score)); // |sum| / N
        Assert.Equal([2.0, -1.5, -1.5], p.Units.Select(u => u.Gamma));
    }

    [Fact]
    public void Random_is_seeded_distinct_and_uses_the_gamma_rule()
    {
        var a = UnitSelector.Select(Hand(), 3, 4, [SiteKind.Attn], false, SteeringMethod.Random, seed: 7);
        var b = UnitSelector.Select(Hand(), 3, 4, [SiteKind.Attn], false, SteeringMethod.Random, seed: 7);
        Assert.Equal(Describe(a.Units), Describe(b.Units));
        Assert.Equal(3, a.Units.Select(u => (u.Site, u.Index)).Distinct().Count());
        var seeds = Enumerable.Range(0, 20).Select(s =>
            Describe(UnitSelector.Select(Hand(), 2, 4, [SiteKind.Attn], false, SteeringMethod.Random, seed: s).Units)).Distinct().Count();
        Assert.True(seeds > 3, $"20 seeds gave only {seeds} different choices of 2 of 5 units");
        var hand = Hand();
        foreach (var u in a.Units)
        {
            var c = hand.StatisticsOf(u.Site)!;
            Assert.Equal(UnitSelector.Gamma(c.Positive[u.Index], c.Negative[u.Index], 4, 4), u.Gamma);
        }
    }

    [Fact]
    public void Caa_makes_alpha_times_mean_difference_vectors_for_the_chosen_layers()
    {
        var p = UnitSelector.Select(Hand(), 0, 2, [SiteKind.Attn], false, SteeringMethod.Caa, layers: [1, 0]);
        Assert.Empty(p.Units);
        Assert.Equal(["attn.1", "attn.0"], p.Caa.Select(v => v.Site));
        Assert.Equal([-0.5f, 1.5f], p.Caa[0].Vector); // 2 * [-1, 3] / 4
        Assert.Equal([0.25f, -1f, 0.125f], p.Caa[1].Vector);
        // Default: the middle layer of the kind (2 layers -> layer 1).
        Assert.Equal("attn.1", Assert.Single(UnitSelector.Select(Hand(), 0, 1, [SiteKind.Attn], false, SteeringMethod.Caa).Caa).Site);
    }

    [Fact]
    public void Selection_leaves_its_input_and_the_statistics_untouched()
    {
        var hand = Hand();
        var before = ProfileJson.Serialize(hand);
        var p = UnitSelector.Select(hand, 2, 1, [SiteKind.Attn], false, SteeringMethod.AuSteer);
        Assert.Equal(before, ProfileJson.Serialize(hand));
        Assert.Equal(hand.Counts[0].Positive, p.Counts[0].Positive);
    }

    [Fact]
    public void Bad_requests_are_refused_with_a_reason()
    {
        Assert.Contains("no mlp-out sites", Assert.Throws<InvalidParameterException>(() =>
            UnitSelector.Select(Hand(), 1, 1, [SiteKind.MlpOut], false, SteeringMethod.AuSteer)).Message);
        Assert.Contains("--k 0", ErrorReporter.Message(Assert.Throws<InvalidParameterException>(() =>
            UnitSelector.Select(Hand(), 0, 1, [SiteKind.Attn], false, SteeringMethod.AuSteer))));
        var empty = Hand();
        empty.Pairs = 0;
        foreach (var c in empty.Counts) { Array.Clear(c.Positive); Array.Clear(c.Negative); }
        Assert.Contains("no pairs", Assert.Throws<InvalidProfileException>(() =>
            UnitSelector.Select(empty, 1, 1, [SiteKind.Attn], false, SteeringMethod.AuSteer)).Message);
    }
}
