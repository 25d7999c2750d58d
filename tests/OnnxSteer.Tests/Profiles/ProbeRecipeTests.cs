using OnnxSteer.Diffing;
using OnnxSteer.ModelFiles;
using OnnxSteer.Pairs;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Profiling;
using OnnxSteer.Recording;
using OnnxSteer.Tests.Reference;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using OnnxSteer.Tokenizers;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Profiles;

/// <summary>
/// The DSAS paper's probe recipe: undesired texts against a neutral control set, each text's activations averaged over
/// its tokens, optionally on a few principal components folded back into the gate's weights.
/// </summary>
public sealed class ProbeRecipeTests(ITestOutputHelper output)
{
    private static readonly string[] Names = ["Lily", "Tom", "Ben", "Sue", "Anna", "Max", "Mia", "Sam"];

    /// <summary>Mood pairs: the sad event is the negative answer (the undesired text).</summary>
    private static PairSet MoodPairs()
    {
        (string Happy, string Sad)[] events =
        [
            ("got a new puppy", "lost the puppy"), ("won a big prize", "fell and hurt a knee"),
            ("had a yummy cake", "dropped the cake"), ("found a pretty shell", "broke a favourite toy"),
        ];
        return new PairSet(Names.SelectMany(n => events.Select(e =>
            new ContrastivePair($"One day, {n}", $" {e.Happy}. {n} felt", $" {e.Sad}. {n} felt", $"{n}/{e.Happy}"))).ToList(), 0, "mood pairs", []);
    }

    /// <summary>Neutral story sentences (no feeling, no event), JSON Lines {"text"}.</summary>
    private static string NeutralFile(string dir)
    {
        string[] things = ["went to the shop", "saw a big tree", "walked to school", "looked at the sky"];
        var path = Path.Combine(dir, "neutral.jsonl");
        File.WriteAllLines(path, Names.SelectMany(n => things.Select(t => System.Text.Json.JsonSerializer.Serialize(new { text = $"One day, {n} {t}. {n} said" }))));
        return path;
    }

    [SharedFact]
    public void Mean_pooled_rows_are_the_token_means_of_the_reference_activations()
    {
        var folder = ImportedModels.Get("standard", "fp32");
        var model = OnnxModel.Load(folder);
        var sites = SiteFinder.Find(model).Sites;
        var tokenizer = TokenizerLoader.Load(folder);
        // Different lengths in one batch: the padding must not enter the means.
        var texts = new[] { "One day, Lily lost the puppy.", "Tom saw a big tree and", "Once upon a time, there was a little girl named Sue who liked" }
            .Select(t => tokenizer.EncodeToIds(t, addBos: true)).ToList();
        float[][][] rows;
        using (var recorder = new ActivationRecorder(model, sites, pooling: TapPooling.Mean)) rows = recorder.Record(texts);

        var reference = LlamaReference.Load(ImportedModels.CheckpointPath);
        for (var b = 0; b < texts.Count; b++)
        {
            var sums = new Dictionary<(SiteKind, int), double[]>();
            reference.Forward(texts[b], (kind, layer, h) =>
            {
                var sum = sums.TryGetValue((kind, layer), out var s) ? s : sums[(kind, layer)] = new double[h.Length];
                for (var i = 0; i < h.Length; i++) sum[i] += h[i];
            });
            for (var s = 0; s < sites.Count; s++)
            {
                var expected = sums[(sites[s].Kind, sites[s].Layer)].Select(v => v / texts[b].Count).ToArray();
                var scale = Math.Max(1, expected.Max(Math.Abs));
                var worst = expected.Select((v, i) => Math.Abs(v - rows[b][s][i])).Max();
                Assert.True(worst <= 1e-5 * scale, $"text {b} {sites[s].Id}: max |mean − recorded| {worst:g3}");
            }
        }
    }

    [Fact]
    public void Pca_probe_weights_lie_along_the_leading_component_of_the_standardized_features()
    {
        // One direction of large variance, carrying the label; the others noise. With PCA 1 the probe's weights, in
        // standardized coordinates, must point along the direction of largest variance: no random direction has more.
        const int d = 12, n = 300;
        var rng = new Random(3);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var u = Enumerable.Range(0, d).Select(_ => Normal()).ToArray();
        var rows = new List<float[][]>();
        var labels = new List<bool>();
        for (var r = 0; r < n; r++)
        {
            var label = r % 2 == 1;
            var t = (label ? 2.0 : -2.0) + Normal();
            rows.Add([Enumerable.Range(0, d).Select(i => (float)(t * u[i] + 0.3 * Normal() + 5)).ToArray()]);
            labels.Add(label);
        }
        var site = new ProfileSite { Id = "mlp.0", Kind = SiteKind.Mlp, Layer = 0, Width = d, Dtype = "float" };
        var set = ProbeFitter.Fit([site], rows, labels, pca: 1);
        Assert.Equal((240, 60, 1), (set.TrainTexts!.Value, set.HeldOutTexts!.Value, set.Pca!.Value));
        var probe = set.Sites.Single();
        Assert.InRange(probe.HeldOutAccuracy, 0.9, 1.0);

        // Standardize the training rows independently and compare Rayleigh quotients.
        var train = Enumerable.Range(0, n).Where(r => !ProbeFitter.IsHeldOut(r / 2, 5)).Select(r => rows[r][0]).ToList();
        var mean = Enumerable.Range(0, d).Select(i => train.Average(x => (double)x[i])).ToArray();
        var sd = Enumerable.Range(0, d).Select(i => Math.Sqrt(train.Average(x => Math.Pow(x[i] - mean[i], 2)))).ToArray();
        var z = train.Select(x => x.Select((v, i) => (v - mean[i]) / sd[i]).ToArray()).ToList();
        double Variance(double[] v)
        {
            var norm = Math.Sqrt(v.Sum(x => x * x));
            return z.Average(row => Math.Pow(row.Select((x, i) => x * v[i]).Sum() / norm, 2));
        }
        var w = probe.Weights.Select((v, i) => v * sd[i]).ToArray();
        var best = Variance(w);
        for (var trial = 0; trial < 200; trial++)
            Assert.True(Variance(Enumerable.Range(0, d).Select(_ => Normal()).ToArray()) <= best + 1e-9);
        output.WriteLine($"variance along the probe {best:0.000} (of {d}); held-out accuracy {probe.HeldOutAccuracy:0.000}");
    }

    [SharedFact]
    public void The_paper_recipe_on_stories260K_gates_each_token_with_the_probe_computed_by_hand()
    {
        using var tmp = new TempDir();
        var folder = ImportedModels.Get("genai", "fp32");
        var profile = ProfileRunner.Run(new ProfileRequest
        {
            ModelPath = folder, Pairs = MoodPairs(),
            Settings = new ProfileSettings { Sites = [SiteKind.Mlp], K = 8, Alpha = 2, Probes = true, ProbeNeutral = NeutralFile(tmp.Path), ProbePca = 4 },
        });
        var probes = profile.Probes!;
        Assert.Equal((ProbeSet.MeanTokenSiteActivation, "undesired", 4), (probes.Activation, probes.Predicts, probes.Pca!.Value));
        Assert.Equal("pairs' negative texts vs neutral.jsonl", probes.Data);
        Assert.Equal((52, 12), (probes.TrainTexts!.Value, probes.HeldOutTexts!.Value)); // 32 undesired + 32 neutral, every 5th of each held out
        Assert.Equal(profile.Sites.Select(s => s.Id), probes.Sites.Select(p => p.Site));
        foreach (var p in probes.Sites) output.WriteLine($"{p.Site,-10} held-out {p.HeldOutAccuracy:0.000} train {p.TrainAccuracy:0.000}");
        Assert.Contains(probes.Sites, p => p.HeldOutAccuracy >= 0.75);
        var profilePath = Path.Combine(tmp.Path, "profile.json");
        profile.Save(profilePath);
        Assert.Equal(probes.Sites[2].Weights, SteeringProfile.Load(profilePath).Probes!.Sites[2].Weights);

        // Patched with gates: the gate ORT computes at every token is sigmoid(w·h + b) on the activation the site holds
        // there, computed by hand in the C# reference forward pass (with the steering of earlier layers applied by hand).
        var patched = Steerer.Patch(folder, profilePath, tmp["dynamic"], new PatchSettings { Dynamic = true, ProbeThreshold = 0 });
        var plan = patched.Plan.Sites.ToDictionary(p => (p.Site.Kind, p.Site.Layer));
        var ids = TokenizerLoader.Load(folder).EncodeToIds("One day, Kim lost a red ball. Kim felt", addBos: true);
        var byHand = new Dictionary<string, List<double>>();
        LlamaReference.Load(ImportedModels.CheckpointPath).Forward(ids, (kind, layer, h) =>
        {
            if (!plan.TryGetValue((kind, layer), out var site)) return;
            var logit = site.Gate!.Bias;
            for (var i = 0; i < h.Length; i++) logit += (double)site.Gate.Weights[i] * h[i];
            var g = ProbeFitter.Sigmoid(logit);
            for (var i = 0; i < h.Length; i++) h[i] *= (float)(1 + g * (site.Vector[i] - 1));
            (byHand.TryGetValue(site.Site.Id, out var list) ? list : byHand[site.Site.Id] = []).Add(g);
        });
        var traced = GateTrace.Run(patched.Written.ModelFile, ids);
        Assert.Equal(plan.Count, traced.Sites.Count);
        for (var s = 0; s < traced.Sites.Count; s++)
            for (var t = 0; t < ids.Count; t++)
                Assert.True(Math.Abs(byHand[traced.Sites[s]][t] - traced.Gates[s][t]) <= 1e-4, $"{traced.Sites[s]} @ {t}: {byHand[traced.Sites[s]][t]} vs {traced.Gates[s][t]}");
        Assert.True(traced.Gates.SelectMany(g => g).Distinct().Count() > 3, "the gates should vary from token to token");
    }
}
