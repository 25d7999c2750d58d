using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using Xunit;
using static OnnxSteer.Tests.Profiles.ProfileFixtures;

namespace OnnxSteer.Tests.Profiles;

public class ProfileMergerTests
{
    private static readonly ProfileSite[] Sites = [Site(SiteKind.Attn, 0, 4), Site(SiteKind.Attn, 1, 4)];

    /// <summary>Random activations for 37 pairs, as the recorder would produce them.</summary>
    private static List<(float[][] Pos, float[][] Neg)> RandomPairs(int seed)
    {
        var r = new Random(seed);
        float[] Row() => Enumerable.Range(0, 4).Select(_ => (float)Math.Round(r.NextDouble() * 6 - 3, r.Next(0, 8))).ToArray();
        return Enumerable.Range(0, 37).Select(_ => (new[] { Row(), Row() }, new[] { Row(), Row() })).ToList();
    }

    private static SteeringProfile Profile(IEnumerable<(float[][] Pos, float[][] Neg)> pairs, string? shard)
    {
        var counter = new MomentumCounter(Sites);
        foreach (var (pos, neg) in pairs) counter.AddPair(pos, neg);
        var p = counter.ToProfile("sha256:model", SteeringMethod.AuSteer);
        p.Source = "pairs.jsonl";
        p.Shards = shard is null ? null : [shard];
        return UnitSelector.Select(p, 3, 5, [SiteKind.Attn], false, SteeringMethod.AuSteer);
    }

    [Fact]
    public void Merge_of_shards_equals_the_unsharded_profile_byte_for_byte_in_any_order()
    {
        var pairs = RandomPairs(1);
        var whole = Profile(pairs, null);
        var shards = Enumerable.Range(0, 3).Select(i =>
            (Profile(pairs.Where((_, j) => new ShardSpec(i, 3).Contains(j)), $"{i}/3"), $"shard{i}")).ToList();
        var merged = ProfileMerger.Merge(shards);
        Assert.Equal(System.Text.Encoding.UTF8.GetString(ProfileJson.Serialize(whole)), System.Text.Encoding.UTF8.GetString(ProfileJson.Serialize(merged)));
        shards.Reverse();
        Assert.Equal(ProfileJson.Serialize(whole), ProfileJson.Serialize(ProfileMerger.Merge(shards)));
        Assert.Null(merged.Shards);
        Assert.Equal(37, merged.Pairs);
    }

    [Fact]
    public void Merge_adds_counts_by_hand()
    {
        var a = Hand();
        var b = Hand();
        b.Source = "other.jsonl";
        var m = ProfileMerger.Merge([(a, "a"), (b, "b")]);
        Assert.Equal(8, m.Pairs);
        Assert.Equal([6, 2, 4], m.Counts[0].Positive);
        Assert.Equal([2, 6, 4], m.Counts[0].Negative);
        Assert.Equal(16.0, FixedPoint.ToDouble(m.Counts[2].SumDiff![0]));
    }

    [Fact]
    public void Partial_merges_keep_their_shard_list_and_overlaps_are_refused()
    {
        var pairs = RandomPairs(2);
        var s0 = Profile(pairs.Where((_, j) => j % 4 == 0), "0/4");
        var s2 = Profile(pairs.Where((_, j) => j % 4 == 2), "2/4");
        var partial = ProfileMerger.Merge([(s0, "s0"), (s2, "s2")]);
        Assert.Equal(["0/4", "2/4"], partial.Shards!);
        var half = Profile(pairs.Where((_, j) => j % 2 == 0), "0/2"); // positions 0 mod 2 include 0 mod 4
        var e = Assert.Throws<InvalidProfileException>(() => ProfileMerger.Merge([(s0, "s0"), (half, "half")]));
        Assert.Contains("count twice", e.Message);
        Assert.Throws<InvalidProfileException>(() => ProfileMerger.Merge([(s0, "s0"), (s0, "again")]));
    }

    [Fact]
    public void Profiles_of_different_models_sites_or_methods_are_refused()
    {
        var other = Hand();
        other.ModelFingerprint = "sha256:other";
        Assert.Contains("different models", Assert.Throws<InvalidProfileException>(() => ProfileMerger.Merge([(Hand(), "a"), (other, "b")])).Message);
        var caa = UnitSelector.Select(Hand(), 1, 1, [SiteKind.Attn], false, SteeringMethod.Caa);
        Assert.Contains("different methods", Assert.Throws<InvalidProfileException>(() => ProfileMerger.Merge([(Hand(), "a"), (caa, "b")])).Message);
        var wider = Hand();
        wider.Sites[2].Width = 3;
        wider.Counts = [.. wider.Counts.Take(2), Stats(wider.Sites[2], [0, 0, 0], [0, 0, 0]), .. wider.Counts.Skip(3)];
        Assert.Contains("different sites", Assert.Throws<InvalidProfileException>(() => ProfileMerger.Merge([(Hand(), "a"), (wider, "b")])).Message);
    }
}
