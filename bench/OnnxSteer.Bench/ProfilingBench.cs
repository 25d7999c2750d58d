using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using System.Diagnostics;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Pairs;
using OnnxSteer.Profiles;
using OnnxSteer.Recording;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Bench;

/// <summary>
/// B2: profiling throughput with taps (what <c>profile</c> runs: <see cref="ActivationRecorder"/> on the tapped copy,
/// then <see cref="MomentumCounter"/>) against the same padded batches through the untouched model (all its outputs)
/// with the same session options.
/// </summary>
public static class ProfilingBench
{
    public const int Pairs = 256;

    /// <summary>256 short contrastive pairs, the same every run.</summary>
    public static List<ContrastivePair> MakePairs()
    {
        string[] names = ["Ann", "Bob", "Cid", "Dee", "Eve", "Fay", "Gus", "Hal"];
        string[] prompts =
        [
            "{0} looked at the sky and said it was", "After the game {0} felt", "The soup {0} made tasted",
            "When {0} opened the letter, the news was", "{0} thought the movie was", "The weather in {0}'s town was",
            "{0} said the new teacher was", "Walking home, {0} felt the day had been",
        ];
        (string, string)[] answers = [(" bright", " dark"), (" happy", " sad"), (" good", " bad"), (" great", " awful")];
        var pairs = new List<ContrastivePair>();
        for (var i = 0; pairs.Count < Pairs; i++)
        {
            var (pos, neg) = answers[i % answers.Length];
            var prompt = string.Format(prompts[i / names.Length % prompts.Length], names[i % names.Length]);
            pairs.Add(new ContrastivePair(prompt, pos, neg, $"bench:{i}"));
        }
        return pairs;
    }

    /// <param name="batchSize">Sequences per run (profile's default --batch-size is 8).</param>
    public static void Run(string modelDir, string label, int passes, Report report, RuntimeSettings settings, int batchSize = 8)
    {
        var model = OnnxModel.Load(modelDir);
        var sites = SiteFinder.Find(model).Sites.OrderBy(s => s.Kind).ThenBy(s => s.Layer).ToList();
        var tokenizer = TokenizerLoader.Load(model.BaseDirectory);
        var encoder = new SequenceEncoder(tokenizer, 64);
        var encoded = MakePairs().Select(encoder.Encode).ToList();
        var batches = new List<List<IReadOnlyList<int>>>();
        for (var i = 0; i < encoded.Count; i += batchSize / 2)
            batches.Add(encoded.Skip(i).Take(batchSize / 2).SelectMany(p => new[] { p.Positive, p.Negative }).ToList());
        var tokens = encoded.Sum(p => p.Positive.Count + p.Negative.Count);

        using var recorder = new ActivationRecorder(model, sites, settings);
        using var plain = settings.OpenSession(model.FilePath!);
        var inputs = model.Graph.Input.Where(i => plain.InputNames.Contains(i.Name)).ToList();

        // Batch by batch, alternating which contender goes first: both see the same load, batch for batch. A pass is all
        // 256 pairs through both. Samples for median and range: one per pass when there are at least 5 passes, else five
        // contiguous blocks of the batches (so a 100M model needs one pass, not five, on a shared 2-core machine).
        var counter = new MomentumCounter(sites.Select(ProfileSite.From));
        double Taps(List<IReadOnlyList<int>> batch)
        {
            var clock = Stopwatch.StartNew();
            var rows = recorder.Record(batch);
            for (var i = 0; i < rows.Length; i += 2) counter.AddPair(rows[i], rows[i + 1]);
            return clock.Elapsed.TotalSeconds;
        }
        double Plain(List<IReadOnlyList<int>> batch)
        {
            var clock = Stopwatch.StartNew();
            RunPlain(plain, inputs, batch);
            return clock.Elapsed.TotalSeconds;
        }
        foreach (var b in batches.Take(2)) { Taps(b); Plain(b); } // warm-up
        var tapTimes = new List<double>();
        var plainTimes = new List<double>();
        for (var pass = 0; pass < passes; pass++)
            for (var i = 0; i < batches.Count; i++)
            {
                double t, p;
                if ((i + pass) % 2 == 0) { t = Taps(batches[i]); p = Plain(batches[i]); }
                else { p = Plain(batches[i]); t = Taps(batches[i]); }
                tapTimes.Add(t);
                plainTimes.Add(p);
                if (i % 16 == 15) Console.Error.WriteLine($"  pass {pass + 1}/{passes}, batch {i + 1}/{batches.Count}: taps {t:0.000} s, none {p:0.000} s");
            }
        List<double> Samples(List<double> perBatch)
        {
            var parts = passes >= 5 ? passes : 5;
            var size = (int)Math.Ceiling(perBatch.Count / (double)parts);
            return perBatch.Chunk(size).Select(c => c.Sum()).ToList();
        }
        var tapSamples = Samples(tapTimes);
        var plainSamples = Samples(plainTimes);
        var samplePairs = Pairs * passes / (double)tapSamples.Count;
        var parameters = model.Graph.Initializer.Sum(t => Math.Max(0, DataTypes.ElementCount(t.Dims)));
        var sampleWord = passes >= 5 ? $"{passes} passes of all {Pairs} pairs" : $"{tapSamples.Count} blocks of ~{samplePairs:0} pairs ({passes} pass(es) of all {Pairs} pairs)";
        report.Line($"### B2 — {label}");
        report.Line();
        report.Line($"Model `{modelDir}` ({parameters / 1e6:0.0} M parameters in initializers), all {sites.Count} sites tapped; {Pairs} pairs = {2 * Pairs} sequences,");
        report.Line($"{tokens} tokens, {batches.Count} batches of {batchSize} sequences, ORT default session options for both, device {settings.Device}.");
        report.Line($"Batch by batch, alternating which goes first; samples: {sampleWord}.");
        report.Line();
        report.Line("| run | pairs/s (all passes) | pairs/s per sample, median | min–max |");
        report.Line("|---|---|---|---|");
        void Row(string name, List<double> perBatch, List<double> samples)
        {
            var rate = Stat.Of(samples.Select(x => samplePairs / x).ToList());
            report.Line($"| {name} | {Md.F(Pairs * passes / perBatch.Sum(), "0.00")} | {Md.F(rate.Median, "0.00")} | {Md.F(rate.Min, "0.00")}–{Md.F(rate.Max, "0.00")} |");
        }
        Row("with taps (ActivationRecorder + MomentumCounter)", tapTimes, tapSamples);
        Row("without taps (the model as is, all outputs)", plainTimes, plainSamples);
        report.Line();
        report.Line($"Time with taps / without: per sample **{Md.Ratio(Stat.Paired(tapSamples, plainSamples))}**; per batch {Md.Ratio(Stat.Paired(tapTimes, plainTimes))}; target ≤ 1.10.");
        report.Line();
    }

    /// <summary>One run of the untouched model on a padded batch: input_ids, attention_mask, position_ids and an empty past.</summary>
    private static void RunPlain(InferenceSession session, List<ValueInfoProto> inputs, List<IReadOnlyList<int>> sequences)
    {
        var batch = new PaddedBatch(sequences);
        var values = new List<OrtValue>();
        try
        {
            long[] shape = [batch.Batch, batch.Length];
            foreach (var input in inputs)
                values.Add(input.Name switch
                {
                    "input_ids" => OrtValue.CreateTensorValueFromMemory(batch.InputIds, shape),
                    "attention_mask" => OrtValue.CreateTensorValueFromMemory(batch.AttentionMask, shape),
                    "position_ids" => OrtValue.CreateTensorValueFromMemory(batch.PositionIds, shape),
                    _ => EmptyPast(input, batch.Batch),
                });
            using var outputs = session.RunNamed(inputs.Select(i => i.Name).ToList(), values, session.OutputNames);
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    private static OrtValue EmptyPast(ValueInfoProto input, int batch)
    {
        var tensor = input.Type.TensorType;
        var shape = tensor.Shape.Dim.Select((d, i) => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue
            ? d.DimValue
            : i == 0 || d.DimParam.Contains("batch", StringComparison.OrdinalIgnoreCase) ? batch : 0L).ToArray();
        return OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, (TensorElementType)tensor.ElemType, shape);
    }
}
