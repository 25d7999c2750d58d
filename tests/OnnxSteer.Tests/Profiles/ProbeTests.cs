using OnnxSteer.Cli;
using OnnxSteer.Pairs;
using OnnxSteer.Profiles;
using OnnxSteer.ProfileRuns;
using OnnxSteer.Recording;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit.Abstractions;
using Xunit;

namespace OnnxSteer.Tests.Profiles;

/// <summary>DSAS probes: the logistic fit, <c>profile --probes</c> on stories260K, storage and merging.</summary>
public sealed class ProbeTests(ITestOutputHelper output)
{
    private static ProfileSite Site(int width) => new() { Id = "mlp.0", Kind = SiteKind.Mlp, Layer = 0, Width = width, Dtype = "float" };

    [Fact]
    public void Fit_recovers_a_planted_direction_and_measures_accuracy_on_held_out_pairs_only()
    {
        // Pairs differ along u (plus noise); an offset and per-unit scales that standardization must undo.
        const int d = 24, pairs = 200;
        var rng = new Random(5);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var u = Enumerable.Range(0, d).Select(_ => Normal()).ToArray();
        var norm = Math.Sqrt(u.Sum(x => x * x));
        var scale = Enumerable.Range(0, d).Select(i => 0.1 + i).ToArray();
        float[][] Row(int label) => [Enumerable.Range(0, d).Select(i => (float)((Normal() + (label == 1 ? 1.2 : -1.2) * u[i] / norm) * scale[i] + 3)).ToArray()];
        var pos = Enumerable.Range(0, pairs).Select(_ => Row(0)).ToList();
        var neg = Enumerable.Range(0, pairs).Select(_ => Row(1)).ToList();

        var set = ProbeFitter.Fit([Site(d)], pos, neg);
        var probe = set.Sites.Single();
        Assert.Equal(160, set.TrainPairs);
        Assert.Equal(40, set.HeldOutPairs);

        // Independent check of the held-out figure: classify the held-out pairs (every 5th) with the stored w and b.
        var right = 0;
        for (var j = 4; j < pairs; j += 5)
        {
            double Logit(float[] x) => probe.Bias + x.Select((v, i) => (double)v * probe.Weights[i]).Sum();
            if (Logit(pos[j][0]) <= 0) right++;
            if (Logit(neg[j][0]) > 0) right++;
        }
        Assert.Equal(right / 80.0, probe.HeldOutAccuracy, 12);
        Assert.InRange(probe.HeldOutAccuracy, 0.85, 1.0);

        // In standardized coordinates the weights point along u.
        var w = probe.Weights.Select((v, i) => v * scale[i]).ToArray();
        var cosine = w.Select((v, i) => v * u[i]).Sum() / (Math.Sqrt(w.Sum(v => (double)v * v)) * norm);
        output.WriteLine($"held-out accuracy {probe.HeldOutAccuracy:0.000}, train {probe.TrainAccuracy:0.000}, cos(w, u) {cosine:0.000}");
        Assert.True(cosine > 0.9, $"cos(w, u) = {cosine:0.000}");
    }

    [Fact]
    public void Too_few_pairs_for_a_held_out_one_is_refused()
    {
        var rows = Enumerable.Range(0, 4).Select(_ => new[] { new float[] { 1, 2 } }).ToList();
        var e = Assert.Throws<InvalidProfileException>(() => ProbeFitter.Fit([Site(2)], rows, rows));
        Assert.Contains("probes need at least 5 pairs", e.Message);
    }

    /// <summary>Mood pairs: the same last token (" felt") after a happy or a sad event, so the probe must read the context.</summary>
    private static PairSet MoodPairs()
    {
        string[] names = ["Lily", "Tom", "Ben", "Sue", "Anna", "Max", "Mia", "Sam"];
        (string Happy, string Sad)[] events =
        [
            ("got a new puppy", "lost the puppy"), ("won a big prize", "fell and hurt a knee"),
            ("had a yummy cake", "dropped the cake"), ("found a pretty shell", "broke a favourite toy"),
        ];
        var pairs = names.SelectMany(n => events.Select(e =>
            new ContrastivePair($"One day, {n}", $" {e.Happy}. {n} felt", $" {e.Sad}. {n} felt", $"{n}/{e.Happy}"))).ToList();
        return new PairSet(pairs, 0, "mood pairs", []);
    }

    [SharedFact]
    public void Profile_with_probes_on_stories260K_stores_them_and_a_merge_of_shards_drops_them()
    {
        var model = ImportedModels.Get("genai", "fp32");
        ProfileRequest Request(ShardSpec shard, bool probes) => new()
        { ModelPath = model, Pairs = MoodPairs(), Settings = new ProfileSettings { Sites = [SiteKind.Mlp], K = 4, Alpha = 2, Probes = probes, Shard = shard } };
        var profile = ProfileRunner.Run(Request(ShardSpec.All, probes: true));
        var probes = profile.Probes!;
        Assert.Equal(profile.Sites.Select(s => s.Id), probes.Sites.Select(p => p.Site));
        Assert.Equal(26, probes.TrainPairs);
        Assert.Equal(6, probes.HeldOutPairs);
        foreach (var p in probes.Sites) output.WriteLine($"{p.Site,-10} held-out {p.HeldOutAccuracy:0.000} train {p.TrainAccuracy:0.000}");
        Assert.Contains(probes.Sites, p => p.HeldOutAccuracy >= 0.75);

        using var tmp = new TempDir();
        var path = Path.Combine(tmp.Path, "p.json");
        profile.Save(path);
        var loaded = SteeringProfile.Load(path);
        Assert.Equal(probes.Sites[3].Weights, loaded.Probes!.Sites[3].Weights);
        Assert.Equal(probes.Sites[3].HeldOutAccuracy, loaded.Probes.Sites[3].HeldOutAccuracy);
        Assert.NotNull(ProfileJson.LoadSelection(path).Probes);
        var plain = ProfileRunner.Run(Request(ShardSpec.All, probes: false));
        Assert.Null(plain.Probes);
        Assert.DoesNotContain("\"probes\"", System.Text.Encoding.UTF8.GetString(ProfileJson.Serialize(plain)));

        var shards = new[] { ShardSpec.Parse("0/2"), ShardSpec.Parse("1/2") }
            .Select(sh => (ProfileRunner.Run(Request(sh, probes: true)), sh.ToString())).ToList();
        Assert.All(shards, s => Assert.NotNull(s.Item1.Probes));
        var merged = ProfileMerger.Merge(shards);
        Assert.Null(merged.Probes);
        Assert.Equal(plain.Counts.Select(c => c.Positive), merged.Counts.Select(c => c.Positive)); // counts stay exact
        var note = ProfileMerger.ProbesDroppedNote(shards)!;
        Assert.Contains("not merged", note.ToString());
        Assert.EndsWith("; for patch --dynamic, run 'profile --probes' unsharded over all pairs", ErrorReporter.Render(note));
        Assert.Null(ProfileMerger.ProbesDroppedNote([(plain, "plain")]));
    }

    [Fact]
    public void A_probe_of_the_wrong_width_is_a_profile_error()
    {
        var profile = new SteeringProfile { ModelFingerprint = "x", Sites = [Site(3)], Counts = [new SiteStatistics { Site = "mlp.0", Positive = new int[3], Negative = new int[3], SumDiff = new long[3] }] };
        profile.Probes = new ProbeSet { Sites = [new LayerProbe { Site = "mlp.0", Weights = [1, 2], HeldOutAccuracy = 1, TrainAccuracy = 1 }] };
        var e = Assert.Throws<InvalidProfileException>(() => ProfileJson.Deserialize(ProfileJson.Serialize(profile), "p.json"));
        Assert.Equal("p.json: field 'probes.sites[0].weights': must have 3 entries (width of mlp.0), found 2", e.Message);
    }
}
