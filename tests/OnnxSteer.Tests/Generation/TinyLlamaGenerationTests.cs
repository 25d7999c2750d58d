using OnnxSteer.Generation;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Generation;

/// <summary>Generation on the real onnxruntime-genai export (fp16 logits and KV cache, GroupQueryAttention).</summary>
public class TinyLlamaGenerationTests(ITestOutputHelper output, TinyLlamaGenerationTests.ModelFixture fixture)
    : IClassFixture<TinyLlamaGenerationTests.ModelFixture>
{
    /// <summary>One session shared by the tests of this class, opened on first use (skipped tests never open it).</summary>
    public sealed class ModelFixture : IDisposable
    {
        private readonly Lazy<DecoderModel> _model = new(() => DecoderModel.Open(SharedData.TinyGenaiModelDir));
        internal DecoderModel Model => _model.Value;
        public void Dispose()
        {
            if (_model.IsValueCreated) _model.Value.Dispose();
        }
    }

    // "<s> Once upon a time" in the Llama-2 vocabulary.
    private static readonly int[] Prompt = [1, 9038, 2501, 263, 931];

    private DecoderModel Model => fixture.Model;

    [SharedFact]
    public void Layout_ComesFromGenaiConfig()
    {
        var layout = Model.Layout;
        Assert.Equal(2, layout.Layers);
        Assert.Equal(1, layout.KvHeads);
        Assert.Equal(16, layout.HeadSize);
        Assert.Equal(TensorElementType.Float16, layout.KvType);
        Assert.Equal("position_ids", layout.PositionIds);
        Assert.Equal(new[] { 1 }, layout.EosTokenIds);
        Assert.Equal(2048, layout.ContextLength);
        Assert.Equal("present.1.value", layout.PresentValues[1]);
    }

    [SharedFact]
    public void GreedyWithKvCache_EqualsGreedyRecomputedEachStep()
    {
        var generator = new Generator(Model) { EosTokenIds = [] };
        var options = new SamplingSettings { MaxTokens = 24 };
        var cached = generator.Generate(Prompt, options);
        var recomputed = new Generator(Model) { EosTokenIds = [], UseKvCache = false }.Generate(Prompt, options);
        output.WriteLine("cached:     " + string.Join(" ", cached.GeneratedIds));
        output.WriteLine("recomputed: " + string.Join(" ", recomputed.GeneratedIds));
        Assert.Equal(24, cached.GeneratedIds.Count);
        Assert.Equal(recomputed.GeneratedIds, cached.GeneratedIds);
        Assert.Equal(StopReason.TokenLimit, cached.StopReason);
        Assert.True(cached.GeneratedIds.Distinct().Count() > 1, "generation is stuck on one token");
    }

    [SharedFact]
    public void StepLogits_MatchFullForwardLogits()
    {
        // The last position's logits from prompt + 3 cached steps equal the full forward's last row. Both run in fp16,
        // through different attention paths (past + new vs all at once), so they agree to fp16 rounding: 5e-3 absolute (measured 2.4e-4).
        using var cache = Model.CreateCache();
        var sequence = new List<int>(Prompt);
        var logits = Model.Step(Prompt, cache);
        for (var i = 0; i < 3; i++)
        {
            var next = TokenSampler.ArgMax(logits);
            sequence.Add(next);
            logits = Model.Step([next], cache);
        }
        Assert.Equal(sequence.Count, cache.Length);
        var full = Model.Forward(sequence);
        Assert.Equal(sequence.Count, full.Positions);
        Assert.Equal(32000, full.VocabSize);
        var last = full.Row(sequence.Count - 1);
        var maxDiff = 0.0;
        for (var v = 0; v < last.Length; v++) maxDiff = Math.Max(maxDiff, Math.Abs(last[v] - logits[v]));
        output.WriteLine($"max |step - forward| = {maxDiff}");
        Assert.True(maxDiff < 5e-3, $"max |step - forward| = {maxDiff} (tolerance 5e-3)");
    }

    [SharedFact]
    public void Sampling_IsRepeatableWithASeedAndDiffersAcrossSeeds()
    {
        var generator = new Generator(Model) { EosTokenIds = [] };
        var options = new SamplingSettings { MaxTokens = 8, Temperature = 1.5f, TopK = 50, TopP = 0.95f, Seed = 42 };
        var a = generator.Generate(Prompt, options).GeneratedIds;
        var b = generator.Generate(Prompt, options).GeneratedIds;
        Assert.Equal(a, b);
        var others = Enumerable.Range(1, 3).Select(s => generator.Generate(Prompt, options with { Seed = s }).GeneratedIds).ToList();
        Assert.Contains(others, o => !o.SequenceEqual(a));
    }

    [SharedFact]
    public async Task Streams_GiveTheSameIdsAsGenerate()
    {
        var generator = new Generator(Model) { EosTokenIds = [] };
        var options = new SamplingSettings { MaxTokens = 8 };
        var seen = new List<int>();
        var result = generator.Generate(Prompt, options, seen.Add);
        Assert.Equal(result.GeneratedIds, seen);
        Assert.Equal(result.GeneratedIds, generator.Stream(Prompt, options).ToList());
        var asyncIds = new List<int>();
        await foreach (var id in generator.StreamAsync(Prompt, options)) asyncIds.Add(id);
        Assert.Equal(result.GeneratedIds, asyncIds);
    }

    [SharedFact]
    public void OwnLoop_RefusesWhatGenaiRefuses()
    {
        foreach (var bad in new[] { new SamplingSettings { Temperature = float.PositiveInfinity }, new SamplingSettings { Temperature = float.NaN },
                     new SamplingSettings { TopP = 0 }, new SamplingSettings { TopK = -1 }, new SamplingSettings { MaxTokens = -1 } })
        {
            var e = Assert.Throws<InvalidParameterException>(() => new Generator(Model).Generate(Prompt, bad));
            output.WriteLine($"{bad}: {e.ParamName}");
        }
    }

    [SharedFact]
    public void StopsAtEos()
    {
        var free = new Generator(Model) { EosTokenIds = [] }.Generate(Prompt, new SamplingSettings { MaxTokens = 6 });
        var stopAt = free.GeneratedIds[2];
        var firstIndex = free.GeneratedIds.ToList().IndexOf(stopAt);
        var stopped = new Generator(Model) { EosTokenIds = [stopAt] }.Generate(Prompt, new SamplingSettings { MaxTokens = 6 });
        Assert.Equal(StopReason.EndOfSequence, stopped.StopReason);
        Assert.Equal(free.GeneratedIds.Take(firstIndex + 1), stopped.GeneratedIds);
    }

    [SharedFact]
    public void StopsAtContextLength()
    {
        using var limited = new DecoderModel(Model.Session, Model.Layout with { ContextLength = Prompt.Length + 3 });
        var result = new Generator(limited) { EosTokenIds = [] }.Generate(Prompt, new SamplingSettings { MaxTokens = 10 });
        Assert.Equal(3, result.GeneratedIds.Count);
        Assert.Equal(StopReason.ContextLength, result.StopReason);
    }

    [SharedFact]
    public void Cancellation_StopsGeneration()
    {
        using var cts = new CancellationTokenSource();
        var generator = new Generator(Model) { EosTokenIds = [] };
        var count = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => generator.Generate(Prompt, new SamplingSettings { MaxTokens = 50 },
            _ => { if (++count == 2) cts.Cancel(); }, cts.Token));
        Assert.Equal(2, count);
    }

    [SharedFact]
    public void WithoutGenaiConfig_LayoutIsReadFromTheSession()
    {
        // The Optimum layout ships no genai_config.json: copy the export alone and open it.
        var dir = Directory.CreateTempSubdirectory("onnxsteer-gen-");
        try
        {
            foreach (var f in new[] { "model.onnx", "model.onnx.data" })
                File.Copy(Path.Combine(SharedData.TinyGenaiModelDir, f), Path.Combine(dir.FullName, f));
            using var bare = DecoderModel.Open(dir.FullName);
            Assert.Null(bare.Config);
            Assert.Equal(2, bare.Layout.Layers);
            Assert.Equal(1, bare.Layout.KvHeads);
            Assert.Equal(16, bare.Layout.HeadSize);
            Assert.Empty(bare.Layout.EosTokenIds);
            var options = new SamplingSettings { MaxTokens = 5 };
            Assert.Equal(new Generator(Model) { EosTokenIds = [] }.Generate(Prompt, options).GeneratedIds, new Generator(bare) { EosTokenIds = [] }.Generate(Prompt, options).GeneratedIds);
        }
        finally { dir.Delete(true); }
    }
}
