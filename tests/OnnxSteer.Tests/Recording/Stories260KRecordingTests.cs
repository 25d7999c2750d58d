using OnnxSteer.Import;
using OnnxSteer.ModelFiles;
using OnnxSteer.Pairs;
using OnnxSteer.Profiles;
using OnnxSteer.Profiling;
using OnnxSteer.Recording;
using OnnxSteer.Tests.Reference;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;

namespace OnnxSteer.Tests.Recording;

/// <summary>stories260K imported once per test class, in both export styles (fp32), into a temporary folder.</summary>
public sealed class Stories260KModels : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("onnxsteer-rec-").FullName;
    private readonly Dictionary<ExportStyle, string> _dirs = [];

    public string Checkpoint => SharedData.Path("models", "stories260K", "stories260K.bin");

    /// <summary>The model folder for <paramref name="style"/>, imported on first use.</summary>
    internal string Dir(ExportStyle style)
    {
        lock (_dirs)
        {
            if (!_dirs.TryGetValue(style, out var dir))
            {
                dir = Path.Combine(_root, style.Name());
                Llama2cImporter.Import(Checkpoint, SharedData.Path("models", "stories260K", "tok512.bin"), dir, style, ExportDType.Fp32);
                _dirs[style] = dir;
            }
            return dir;
        }
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}

public class Stories260KRecordingTests(Stories260KModels models) : IClassFixture<Stories260KModels>
{
    /// <summary>Real pairs: COPA items in the method's template, encoded with the model's own tokenizer.</summary>
    private static List<EncodedPair> CopaPairs(string modelDir, int count, int skip = 0)
    {
        var set = TaskPairs.Build(BenchmarkTask.Copa, SharedData.Path("data", "copa", "val.jsonl"), new PairOptions(skip, count));
        var encoder = new SequenceEncoder(TokenizerLoader.Load(modelDir), 512);
        return set.Pairs.Select(encoder.Encode).ToList();
    }

    private static (OnnxModel Model, IReadOnlyList<SteeringSite> Sites) Open(string dir)
    {
        var model = OnnxModel.Load(dir);
        return (model, SiteFinder.Find(model).Sites.OrderBy(s => s.Kind).ThenBy(s => s.Layer).ToList());
    }

    [SharedTheory]
    [InlineData(ExportStyle.Standard)]
    [InlineData(ExportStyle.Genai)]
    internal void Batched_and_unbatched_activations_are_bitwise_identical(ExportStyle style)
    {
        var dir = models.Dir(style);
        var (model, sites) = Open(dir);
        Assert.Equal(15, sites.Count); // 5 layers x attn, mlp, mlp-out
        var sequences = CopaPairs(dir, 5).SelectMany(p => new[] { p.Positive, p.Negative }).ToList();
        Assert.True(sequences.Select(s => s.Count).Distinct().Count() > 3, "the test needs sequences of different lengths, so that padding happens");
        using var recorder = new ActivationRecorder(model, sites);
        var batched = recorder.Record(sequences);
        for (var b = 0; b < sequences.Count; b++)
        {
            var alone = recorder.Record([sequences[b]])[0];
            for (var s = 0; s < sites.Count; s++)
                Assert.True(alone[s].AsSpan().SequenceEqual(batched[b][s]),
                    $"{style}: sequence {b} (length {sequences[b].Count}) site {sites[s].Id}: batched row differs from the unbatched one");
        }
    }

    [SharedFact]
    public void Batching_is_bitwise_invariant_on_the_genai_fp16_export_with_past_inputs()
    {
        // onnxruntime-genai's model builder: MultiHeadAttention + RotaryEmbedding (position_ids), fp16, past_key_values
        // inputs fed empty. Rows are cast to float inside the graph, which is exact.
        var dir = SharedData.TinyGenaiModelDir;
        var (model, sites) = Open(dir);
        var encoder = new SequenceEncoder(TokenizerLoader.Load(dir), 2048);
        var sequences = new[] { "Hello", "The quick brown fox jumps over the lazy dog", "A B C D E F", "Once upon a time" }
            .Select(t => encoder.Encode(new ContrastivePair(t, " yes", " no", "t"))).SelectMany(p => new[] { p.Positive, p.Negative }).ToList();
        using var recorder = new ActivationRecorder(model, sites);
        var batched = recorder.Record(sequences);
        for (var b = 0; b < sequences.Count; b++)
        {
            var alone = recorder.Record([sequences[b]])[0];
            for (var s = 0; s < sites.Count; s++)
            {
                Assert.True(alone[s].AsSpan().SequenceEqual(batched[b][s]), $"sequence {b} site {sites[s].Id}: batched row differs");
                Assert.Contains(alone[s], v => v != 0);
            }
        }
    }

    [SharedFact]
    public void A_cancelled_run_stops_between_batches_and_returns_nothing()
    {
        var pairs = TaskPairs.Build(BenchmarkTask.Copa, SharedData.Path("data", "copa", "val.jsonl"), new PairOptions(Limit: 4));
        using var cancel = new CancellationTokenSource();
        var progress = new Progress(_ => cancel.Cancel());
        // An OperationCanceledException (the CLI's is a subclass saying how far the run got and what was kept).
        Assert.ThrowsAny<OperationCanceledException>(() => ProfileRunner.Run(new ProfileRequest
        { ModelPath = models.Dir(ExportStyle.Standard), Pairs = pairs, Settings = new ProfileSettings { BatchSize = 2 } }, progress, cancel.Token));
        Assert.Equal(1, progress.Reports); // one batch ran, then the cancellation was seen
    }

    private sealed class Progress(Action<ProfileProgress> onReport) : IProgress<ProfileProgress>
    {
        public int Reports { get; private set; }

        public void Report(ProfileProgress value)
        {
            Reports++;
            onReport(value);
        }
    }

    /// <summary>The reference's activation at the last position for a site.</summary>
    private static float[] ReferenceRow(ReferenceRun run, SteeringSite site) => site.Kind switch
    {
        SiteKind.Attn => run.Layers[site.Layer].LastOProjInput,
        SiteKind.Mlp => run.Layers[site.Layer].LastDownProjInput,
        _ => run.Layers[site.Layer].LastDownProjOutput,
    };

    [SharedFact]
    public void Recorded_rows_match_the_reference_forward_pass()
    {
        var dir = models.Dir(ExportStyle.Standard);
        var (model, sites) = Open(dir);
        var reference = LlamaReference.Load(models.Checkpoint);
        var sequences = CopaPairs(dir, 2).SelectMany(p => new[] { p.Positive, p.Negative }).ToList();
        using var recorder = new ActivationRecorder(model, sites);
        var rows = recorder.Record(sequences);
        for (var b = 0; b < sequences.Count; b++)
        {
            var run = reference.Forward(sequences[b]);
            for (var s = 0; s < sites.Count; s++)
            {
                var expected = ReferenceRow(run, sites[s]);
                Assert.Equal(expected.Length, rows[b][s].Length);
                for (var i = 0; i < expected.Length; i++)
                    // fp32 both ways, different summation orders: |ort - ref| <= 1e-4 + 1e-3 |ref|.
                    Assert.True(Math.Abs(rows[b][s][i] - expected[i]) <= 1e-4 + 1e-3 * Math.Abs(expected[i]),
                        $"sequence {b} {sites[s].Id}[{i}]: ort {rows[b][s][i]} vs reference {expected[i]}");
            }
        }
    }

    [SharedFact]
    public void Profile_of_real_pairs_agrees_with_momenta_recomputed_by_the_reference()
    {
        var dir = models.Dir(ExportStyle.Standard);
        var pairs = TaskPairs.Build(BenchmarkTask.Copa, SharedData.Path("data", "copa", "val.jsonl"), new PairOptions(Limit: 8));
        var profile = ProfileRunner.Run(new ProfileRequest
        { ModelPath = dir, Pairs = pairs, Settings = new ProfileSettings { Sites = [SiteKind.Attn, SiteKind.MlpOut], K = 4, Alpha = 10, BatchSize = 6 } });
        Assert.Equal(8, profile.Pairs);
        Assert.Equal(8, profile.Units.Count);

        // Independent recomputation: the C# reference forward pass on the same token ids, momenta counted by hand.
        var reference = LlamaReference.Load(models.Checkpoint);
        var encoder = new SequenceEncoder(TokenizerLoader.Load(dir), 512);
        var (_, sites) = Open(dir);
        var pos = sites.ToDictionary(s => s.Id, s => new int[s.Width]);
        var neg = sites.ToDictionary(s => s.Id, s => new int[s.Width]);
        var ambiguous = sites.ToDictionary(s => s.Id, s => new int[s.Width]);
        // Per unit: Σ x(pos), Σ x(neg), Σ m, Σ m² in double, for the evidence (means, effect size).
        var sums = sites.ToDictionary(s => s.Id, s => new double[s.Width, 4]);
        foreach (var pair in pairs.Pairs)
        {
            var e = encoder.Encode(pair);
            ReferenceRun p = reference.Forward(e.Positive), n = reference.Forward(e.Negative);
            foreach (var site in sites)
            {
                float[] a = ReferenceRow(p, site), b = ReferenceRow(n, site);
                for (var i = 0; i < site.Width; i++)
                {
                    var m = (double)a[i] - b[i];
                    var acc = sums[site.Id];
                    acc[i, 0] += a[i];
                    acc[i, 1] += b[i];
                    acc[i, 2] += m;
                    acc[i, 3] += m * m;
                    // Momenta this close to zero may take either sign under a different summation order.
                    if (Math.Abs(m) <= 1e-4 + 1e-3 * Math.Max(Math.Abs(a[i]), Math.Abs(b[i]))) ambiguous[site.Id][i]++;
                    else if (m > 0) pos[site.Id][i]++;
                    else neg[site.Id][i]++;
                }
            }
        }

        var totalAmbiguous = 0;
        foreach (var site in sites)
        {
            var c = profile.StatisticsOf(site.Id)!;
            for (var i = 0; i < site.Width; i++)
            {
                totalAmbiguous += ambiguous[site.Id][i];
                Assert.InRange(c.Positive[i], pos[site.Id][i], pos[site.Id][i] + ambiguous[site.Id][i]);
                Assert.InRange(c.Negative[i], neg[site.Id][i], neg[site.Id][i] + ambiguous[site.Id][i]);
            }
        }
        var units = sites.Sum(s => s.Width) * 8;
        Assert.True(totalAmbiguous < units / 100, $"{totalAmbiguous} of {units} momenta were too close to zero to check");

        // The top units by the reference's counts: each selected unit's reference score is at least that of every
        // unit left out of its kind (allowing for its ambiguous momenta).
        foreach (var unit in profile.Units)
        {
            var kind = profile.Site(unit.Site)!.Kind;
            int Score(string id, int i) => Math.Max(pos[id][i], neg[id][i]);
            var selectedScore = Score(unit.Site, unit.Index) + ambiguous[unit.Site][unit.Index];
            foreach (var site in sites.Where(s => s.Kind == kind))
                for (var i = 0; i < site.Width; i++)
                    if (!profile.Units.Any(u => u.Site == site.Id && u.Index == i))
                        Assert.True(selectedScore >= Score(site.Id, i),
                            $"selected {unit.Site}[{unit.Index}] scores {selectedScore} by the reference, below {site.Id}[{i}] at {Score(site.Id, i)}");
            Assert.Equal(UnitSelector.Gamma(profile.StatisticsOf(unit.Site)!.Positive[unit.Index], profile.StatisticsOf(unit.Site)!.Negative[unit.Index], 8, 10), unit.Gamma);

            // Evidence against the reference: per-side means to the activations' tolerance; d_z to 1%.
            var r = sums[unit.Site];
            double meanPos = r[unit.Index, 0] / 8, meanNeg = r[unit.Index, 1] / 8, meanDiff = r[unit.Index, 2] / 8;
            var sd = Math.Sqrt((r[unit.Index, 3] - 8 * meanDiff * meanDiff) / 7);
            Assert.True(Math.Abs(unit.MeanPos!.Value - meanPos) <= 1e-4 + 1e-3 * Math.Abs(meanPos), $"{unit.Site}[{unit.Index}] mean_pos {unit.MeanPos} vs reference {meanPos}");
            Assert.True(Math.Abs(unit.MeanNeg!.Value - meanNeg) <= 1e-4 + 1e-3 * Math.Abs(meanNeg), $"{unit.Site}[{unit.Index}] mean_neg {unit.MeanNeg} vs reference {meanNeg}");
            Assert.True(Math.Abs(unit.EffectSize!.Value - meanDiff / sd) <= 0.01 * Math.Abs(meanDiff / sd) + 1e-3,
                $"{unit.Site}[{unit.Index}] effect {unit.EffectSize} vs reference {meanDiff / sd}");
            Assert.Equal(UnitEvidence.SignTestP(profile.StatisticsOf(unit.Site)!.Positive[unit.Index], profile.StatisticsOf(unit.Site)!.Negative[unit.Index]), unit.P);
        }
    }

    [SharedFact]
    public void Merged_shards_equal_the_unsharded_profile_exactly()
    {
        var dir = models.Dir(ExportStyle.Genai);
        var pairs = TaskPairs.Build(BenchmarkTask.Copa, SharedData.Path("data", "copa", "val.jsonl"), new PairOptions(Skip: 20, Limit: 11));
        ProfileRequest Request(ShardSpec shard, int batch) => new()
        { ModelPath = dir, Pairs = pairs, Settings = new ProfileSettings { Sites = [SiteKind.Mlp], K = 5, Alpha = 4, BatchSize = batch, Shard = shard } };
        var whole = ProfileRunner.Run(Request(ShardSpec.All, 6));
        var shards = Enumerable.Range(0, 3).Select(i => (ProfileRunner.Run(Request(new ShardSpec(i, 3), 4)), $"shard {i}")).ToList();
        Assert.Equal([4, 4, 3], shards.Select(s => s.Item1.Pairs));
        var merged = ProfileMerger.Merge(shards);
        Assert.Equal(System.Text.Encoding.UTF8.GetString(ProfileJson.Serialize(whole)), System.Text.Encoding.UTF8.GetString(ProfileJson.Serialize(merged)));
    }
}
