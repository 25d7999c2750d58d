using OnnxSteer.Import;
using OnnxSteer.ModelFiles;
using OnnxSteer.Pairs;
using OnnxSteer.ProfileRuns;
using OnnxSteer.Profiles;
using OnnxSteer.Recording;
using OnnxSteer.Sites;
using OnnxSteer.Tokenizers;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.Recording;

/// <summary>
/// A pair's prompt is run once: <see cref="ActivationRecorder.RecordPairs"/> runs the tokens both sides share once per
/// pair and each side's own tokens after them from the KV cache, and records, bit for bit, what running both whole
/// sequences (<see cref="ActivationRecorder.Record"/>, the path every other check of the recorder pins) records — on
/// each cache layout profiling meets: onnxruntime-genai's GroupQueryAttention and MultiHeadAttention graphs, the
/// standard (Optimum-style) graph, fp16 and fp32.
/// </summary>
public sealed class SharedPromptTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static IReadOnlyList<int> Ids(params int[] ids) => ids;

    /// <summary>Pairs of different prompt and answer lengths: answers of one to three tokens, a side that ends where
    /// the other goes on, prompts of 3 to 10 shared tokens, and a pair whose sides part after the BOS (not cut).</summary>
    private static readonly (IReadOnlyList<int>, IReadOnlyList<int>)[] Pairs =
    [
        (Ids(1, 45, 300, 12, 7, 99, 31), Ids(1, 45, 300, 12, 7, 99, 200)),
        (Ids(1, 8, 17, 40), Ids(1, 8, 17, 41, 42, 43)),
        (Ids(1, 402, 3, 3, 17, 250, 81, 64, 2, 9, 30), Ids(1, 402, 3, 3, 17, 250, 81, 64, 2, 9, 31, 5)),
        (Ids(1, 5, 6, 7, 8), Ids(1, 9, 6, 7, 8)),
        (Ids(1, 77, 5, 6), Ids(1, 77, 5, 6, 6)),
    ];

    /// <summary>Largest difference allowed from the whole-sequence recording, relative to the row's largest magnitude:
    /// fp32 1e-5, fp16 4e-3 (the attention kernels sum in another order for one new token, and later layers carry it).</summary>
    private static float Tolerance(string dtype) => dtype == "fp16" ? 4e-3f : 1e-5f;

    private static void AssertSameAsWholeSequences(string modelPath, string label, string dtype)
    {
        var model = OnnxModel.Load(modelPath);
        var sites = SiteFinder.Find(model).Sites.OrderBy(s => s.Kind).ThenBy(s => s.Layer).ToList();
        using var recorder = new ActivationRecorder(model, sites);
        Assert.True(recorder.SharesPrompts, $"{label}: the recorder does not use the model's KV cache");
        var shared = recorder.RecordPairs(Pairs);
        var whole = recorder.Record(Pairs.SelectMany(p => new[] { p.Item1, p.Item2 }).ToList());
        var worst = 0f;
        for (var b = 0; b < whole.Length; b++)
            for (var s = 0; s < sites.Count; s++)
            {
                var scale = Math.Max(1e-3f, whole[b][s].Max(Math.Abs));
                var diff = whole[b][s].Zip(shared[b][s], (x, y) => Math.Abs(x - y)).Max() / scale;
                worst = Math.Max(worst, diff);
                Assert.True(diff <= Tolerance(dtype), $"{label}: sequence {b}, site {sites[s].Id}: relative difference {diff:G3}");
            }
        // The pair not cut is recorded as before, bit for bit.
        for (var s = 0; s < sites.Count; s++) Assert.Equal(whole[6][s], shared[6][s]);

        // A row depends on its pair alone: the same bits in every batch, so a profile does not depend on --batch-size or shards.
        foreach (var batch in new[] { Pairs[..1], Pairs[1..2], Pairs[2..], Pairs[4..], Pairs.Reverse().ToArray() })
        {
            var again = recorder.RecordPairs(batch);
            for (var i = 0; i < batch.Length; i++)
            {
                var at = Array.IndexOf(Pairs, batch[i]);
                for (var side = 0; side < 2; side++)
                    for (var s = 0; s < sites.Count; s++)
                        Assert.True(shared[2 * at + side][s].AsSpan().SequenceEqual(again[2 * i + side][s]),
                            $"{label}: pair {at} side {side} site {sites[s].Id} recorded other bits in a batch of {batch.Length}");
            }
        }
    }

    [SharedTheory]
    [InlineData("genai", "fp32")]
    [InlineData("genai", "fp16")]
    [InlineData("standard", "fp32")]
    public void Stories260K_records_the_bits_of_the_whole_sequences(string style, string dtype) =>
        AssertSameAsWholeSequences(ImportedModels.Get(style, dtype), $"stories260K {style} {dtype}", dtype);

    [Fact]
    public void Group_query_attention_records_the_bits_of_the_whole_sequences()
    {
        // Head size 16: the genai style writes GroupQueryAttention, whose cache lengths come from the attention mask.
        var config = new LlamaConfig(Dim: 64, HiddenDim: 96, Layers: 3, Heads: 4, KvHeads: 2, VocabSize: 600, MaxSequenceLength: 64);
        Assert.True(OnnxSteer.Import.GenaiGraphWriter.UsesGroupQueryAttention(config));
        var result = SyntheticModel.Write(config, seed: 9, _tmp.Path, ExportStyle.Genai, ExportDType.Fp32);
        AssertSameAsWholeSequences(result.ModelPath, "synthetic GroupQueryAttention", "fp32");
    }

    [SharedFact]
    public void The_real_genai_export_records_the_bits_of_the_whole_sequences() =>
        AssertSameAsWholeSequences(Path.Combine(SharedData.TinyGenaiModelDir, "model.onnx"), "tiny-random-llama genai fp16", "fp16");

    [Fact]
    public void Pairs_cut_at_one_length_share_a_prefix_run_and_each_side_keeps_a_token()
    {
        Assert.Equal([6, 3, 10, 0, 3], Pairs.Select(PromptSplit.PrefixOf));
        var split = PromptSplit.Of([Pairs[1], Pairs[4]]);
        Assert.Equal(3, split.PrefixLength);
        Assert.Equal(3, split.SuffixLength);
        Assert.Equal([1, 8, 17, 1, 77, 5], split.PrefixIds);
        // Pair 4: "1 77 5 6" is all shared with its negative side, but keeps its last token as its own.
        Assert.Equal([40, 0, 0, 41, 42, 43, 6, 0, 0, 6, 6, 0], split.SuffixIds);
        Assert.Equal([0, 3 + 2, 6, 9 + 1], split.LastRows);
        Assert.Throws<ArgumentException>(() => PromptSplit.Of([Pairs[0], Pairs[1]]));
        // Own tokens beyond the shared prompt, or beyond MostOwnTokens: not cut.
        var longAnswer = Enumerable.Range(100, PromptSplit.MostOwnTokens + 1).ToList();
        var prompt = Enumerable.Range(1, 20).ToList();
        Assert.Equal(0, PromptSplit.PrefixOf((prompt.Append(7).Concat(longAnswer).ToList(), prompt.Append(8).ToList())));
        Assert.Equal(20, PromptSplit.PrefixOf((prompt.Append(7).Concat(longAnswer.Skip(2)).ToList(), prompt.Append(8).ToList())));
    }

    [SharedFact]
    public void A_profile_runs_each_prompt_once_counts_what_whole_sequences_count_and_does_not_depend_on_batch_or_shard()
    {
        // BoolQ: a passage and a question, answered " yes" or " no": every pair shares all but its last token or two.
        var dir = ImportedModels.Get("genai", "fp32");
        var pairs = TaskPairs.Build(BenchmarkTask.BoolQ, SharedData.Path("data", "boolq", "dev.jsonl"), new PairOptions(Limit: 9));
        var model = OnnxModel.Load(dir);
        var sites = SiteFinder.Find(model).Sites.OrderBy(s => s.Kind).ThenBy(s => s.Layer).ToList();
        Assert.NotEmpty(ActivationTaps.Build(model, sites, keepCache: true).Cache);
        var encoder = new SequenceEncoder(TokenizerLoader.Load(dir), ProfileRunner.ContextLength(dir) ?? ProfileRunner.DefaultMaxTokens);
        var encoded = pairs.Pairs.Select(encoder.Encode).ToList();
        Assert.All(encoded, e => Assert.InRange(PromptSplit.PrefixOf((e.Positive, e.Negative)), 20, 1000));

        ProfileRequest Request(ShardSpec shard, int batch) => new()
        { ModelPath = dir, Pairs = pairs, Settings = new ProfileSettings { K = 6, BatchSize = batch, Shard = shard } };
        var profile = ProfileRunner.Run(Request(ShardSpec.All, 8));
        string Json(SteeringProfile p) => System.Text.Encoding.UTF8.GetString(ProfileJson.Serialize(p));
        Assert.Equal(Json(profile), Json(ProfileRunner.Run(Request(ShardSpec.All, 2))));
        var shards = Enumerable.Range(0, 2).Select(i => (ProfileRunner.Run(Request(new ShardSpec(i, 2), 3)), $"shard {i}")).ToList();
        Assert.Equal(Json(profile), Json(ProfileMerger.Merge(shards)));

        // The counts of whole sequences, recorded pair by pair without the cache.
        using var recorder = new ActivationRecorder(model, sites);
        var counter = new MomentumCounter(sites.Select(ProfileSite.From));
        foreach (var e in encoded)
        {
            var rows = recorder.Record([e.Positive, e.Negative]);
            counter.AddPair(rows[0], rows[1]);
        }
        var whole = counter.ToProfile(profile.ModelFingerprint, SteeringMethod.AuSteer);
        foreach (var site in sites)
        {
            Assert.Equal(whole.StatisticsOf(site.Id)!.Positive, profile.StatisticsOf(site.Id)!.Positive);
            Assert.Equal(whole.StatisticsOf(site.Id)!.Negative, profile.StatisticsOf(site.Id)!.Negative);
        }
    }
}
