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
    private const int BatchSize = 8; // sequences per run, as profile's default --batch-size

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

    public static void Run(string modelDir, string label, int rounds, Report report)
    {
        var model = OnnxModel.Load(modelDir);
        var sites = SiteFinder.Find(model).Sites.OrderBy(s => s.Kind).ThenBy(s => s.Layer).ToList();
        var tokenizer = TokenizerLoader.Load(model.BaseDirectory);
        var encoder = new SequenceEncoder(tokenizer, 64);
        var encoded = MakePairs().Select(encoder.Encode).ToList();
        var batches = new List<List<IReadOnlyList<int>>>();
        for (var i = 0; i < encoded.Count; i += BatchSize / 2)
            batches.Add(encoded.Skip(i).Take(BatchSize / 2).SelectMany(p => new[] { p.Positive, p.Negative }).ToList());
        var tokens = encoded.Sum(p => p.Positive.Count + p.Negative.Count);

        var settings = RuntimeSettings.Default;
        using var recorder = new ActivationRecorder(model, sites, settings);
        using var options = settings.CreateSessionOptions();
        using var plain = new InferenceSession(model.FilePath!, options);
        var inputs = model.Graph.Input.Where(i => plain.InputNames.Contains(i.Name)).ToList();

        var contenders = new List<Contender>
        {
            new("with taps (ActivationRecorder + MomentumCounter)", () =>
            {
                var counter = new MomentumCounter(sites.Select(ProfileSite.From));
                var clock = Stopwatch.StartNew();
                foreach (var batch in batches)
                {
                    var rows = recorder.Record(batch);
                    for (var i = 0; i < rows.Length; i += 2) counter.AddPair(rows[i], rows[i + 1]);
                }
                return clock.Elapsed.TotalSeconds;
            }),
            new("without taps (the model as is, all outputs)", () =>
            {
                var clock = Stopwatch.StartNew();
                foreach (var batch in batches) RunPlain(plain, inputs, batch);
                return clock.Elapsed.TotalSeconds;
            }),
        };
        var times = Rounds.Run(contenders, rounds, warmup: true, log: Console.Error.WriteLine);
        var taps = Stat.Of(times[contenders[0].Name]);
        var none = Stat.Of(times[contenders[1].Name]);
        var parameters = model.Graph.Initializer.Sum(t => Math.Max(0, DataTypes.ElementCount(t.Dims)));
        report.Line($"### B2 — {label}");
        report.Line();
        report.Line($"Model `{modelDir}` ({parameters / 1e6:0.0} M parameters in initializers), {sites.Count} sites tapped; {Pairs} pairs = {2 * Pairs} sequences,");
        report.Line($"{tokens} tokens, batches of {BatchSize} sequences (profile's default), ORT default session options for both. {rounds} interleaved rounds after a warm-up.");
        report.Line();
        report.Line("| run | median | min–max | pairs/s (median) |");
        report.Line("|---|---|---|---|");
        report.Line($"| {contenders[0].Name} | {Md.Seconds(taps)} | {Md.F(Pairs / taps.Median, "0.0")} |");
        report.Line($"| {contenders[1].Name} | {Md.Seconds(none)} | {Md.F(Pairs / none.Median, "0.0")} |");
        report.Line();
        report.Line($"Time with taps / without (per-round pairs): **{Md.Ratio(Stat.Paired(times[contenders[0].Name], times[contenders[1].Name]))}**; target ≤ 1.10.");
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
            using var outputs = session.Run(inputs.Select(i => i.Name).ToList(), values, session.OutputNames);
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
        return OrtValue.CreateAllocatedTensorValue((TensorElementType)tensor.ElemType, shape);
    }
}
