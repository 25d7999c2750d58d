using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.Import;
using OnnxSteer.ModelFiles;
using OnnxSteer.Recording;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Recording;

/// <summary>
/// The profiling graph computes only what it records: no logits, no final norm, no layer after the last tapped site,
/// none of their weights; and what it records equals, bit for bit, the activation the untouched model itself produces
/// at each site (exposed there as an extra graph output and run alone).
/// </summary>
public sealed class PrunedTapsTests(Stories260KModels models) : IClassFixture<Stories260KModels>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("onnxsteer-prune-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static IReadOnlyList<SteeringSite> SitesOf(OnnxModel model) =>
        SiteFinder.Find(model).Sites.OrderBy(s => s.Kind).ThenBy(s => s.Layer).ToList();

    /// <summary>Each sequence's last-token row at every site, from the original graph with the sites as extra outputs.</summary>
    private static float[][][] FromTheModelItself(OnnxModel model, IReadOnlyList<SteeringSite> sites, IReadOnlyList<int[]> sequences)
    {
        var proto = model.Proto.Clone();
        var editor = new GraphEditor(proto.Graph);
        foreach (var site in sites.Where(s => !editor.Index.IsGraphOutput(s.ValueName)))
            editor.AddGraphOutput(new ValueInfoProto
            {
                Name = site.ValueName,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        using var session = RuntimeSettings.Default.OpenSession(proto.ToByteArray(), model.BaseDirectory);
        var result = new float[sequences.Count][][];
        for (var b = 0; b < sequences.Count; b++)
        {
            var ids = sequences[b].Select(i => (long)i).ToArray();
            long[] shape = [1, ids.Length];
            var inputs = new Dictionary<string, OrtValue>();
            foreach (var input in session.InputMetadata)
            {
                inputs[input.Key] = input.Key switch
                {
                    "input_ids" => OrtValue.CreateTensorValueFromMemory(ids, shape),
                    "attention_mask" => OrtValue.CreateTensorValueFromMemory(ids.Select(_ => 1L).ToArray(), shape),
                    "position_ids" => OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, ids.Length).Select(i => (long)i).ToArray(), shape),
                    _ => OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, input.Value.ElementDataType,
                        input.Value.Dimensions.Select((d, i) => i == 0 ? 1L : d < 0 ? 0L : d).ToArray()),
                };
            }
            using var outputs = session.Run(new RunOptions(), inputs.Keys.ToList(), inputs.Values.ToList(), sites.Select(s => s.ValueName).ToList());
            result[b] = sites.Select((s, i) =>
            {
                var data = outputs[i].GetTensorDataAsSpan<float>();
                return data[^s.Width..].ToArray();
            }).ToArray();
            foreach (var v in inputs.Values) v.Dispose();
        }
        return result;
    }

    private static void AssertPrunedAndExact(OnnxModel model, IReadOnlyList<SteeringSite> sites, IReadOnlyList<int[]> sequences, string label)
    {
        var taps = ActivationTaps.Build(model, sites);
        var logits = model.Graph.Output[0].Name;
        var head = new GraphIndex(model.Graph).Producer(logits)!;
        var finalNorm = new GraphIndex(model.Graph).Producer(head.Input[0]);
        var tapped = taps.Model.Graph;
        Assert.DoesNotContain(tapped.Node, n => n.Output.Contains(logits));
        Assert.DoesNotContain(tapped.Node, n => n.Name == head.Name);
        if (finalNorm is not null) Assert.DoesNotContain(tapped.Node, n => n.Name == finalNorm.Name);
        Assert.DoesNotContain(tapped.Initializer, t => head.Input.Skip(1).Contains(t.Name)); // the LM head's weight is not even loaded

        using var recorder = new ActivationRecorder(model, sites);
        var recorded = recorder.Record(sequences.Select(s => (IReadOnlyList<int>)s).ToList());
        var expected = FromTheModelItself(model, sites, sequences);
        for (var b = 0; b < sequences.Count; b++)
            for (var s = 0; s < sites.Count; s++)
                Assert.True(expected[b][s].AsSpan().SequenceEqual(recorded[b][s]),
                    $"{label}: sequence {b} (length {sequences[b].Length}) site {sites[s].Id}: the pruned graph recorded other bits than the model computes");
    }

    private static readonly int[][] Sequences = [[1, 45, 300, 12, 7, 99], [1, 8], [1, 402, 3, 3, 17, 250, 81, 64, 2, 9, 30], [1, 77, 5]];

    [SharedFact]
    public void Stories260K_taps_drop_the_head_and_record_the_models_own_bits()
    {
        var model = OnnxModel.Load(models.Dir(ExportStyle.Standard));
        AssertPrunedAndExact(model, SitesOf(model), Sequences, "stories260K");
    }

    [Fact]
    public void Synthetic_model_taps_stop_at_the_last_tapped_layer()
    {
        var config = new LlamaConfig(Dim: 64, HiddenDim: 96, Layers: 4, Heads: 4, KvHeads: 2, VocabSize: 600, MaxSequenceLength: 64);
        var result = SyntheticModel.Write(config, seed: 5, _dir, ExportStyle.Genai, ExportDType.Fp32);
        var model = OnnxModel.Load(result.ModelPath);
        var all = SitesOf(model);
        AssertPrunedAndExact(model, all, Sequences, "synthetic, every site");

        // Only layers 0 and 1: layers 2 and 3 are neither computed nor loaded, and their past inputs are not fed.
        var early = all.Where(s => s.Layer <= 1).ToList();
        AssertPrunedAndExact(model, early, Sequences, "synthetic, layers 0-1");
        var tapped = ActivationTaps.Build(model, early).Model.Graph;
        static int ModelNodes(GraphProto g) => g.Node.Count(n => !n.Name.StartsWith("onnxsteer_tap/", StringComparison.Ordinal));
        var everySite = ModelNodes(ActivationTaps.Build(model, all).Model.Graph);
        Assert.True(everySite < model.Graph.Node.Count, $"every site: {everySite} of {model.Graph.Node.Count} nodes kept");
        Assert.True(ModelNodes(tapped) < everySite * 0.6, $"layers 0-1: {ModelNodes(tapped)} nodes kept, every site {everySite}");
        Assert.DoesNotContain(tapped.Initializer, t => t.Name.Contains("layers.3.", StringComparison.Ordinal) || t.Name.Contains("layers.2.", StringComparison.Ordinal));
        Assert.DoesNotContain(tapped.Input, i => i.Name.Contains(".3.", StringComparison.Ordinal));
    }
}

public class LengthOrderTests
{
    private static EncodedPair Pair(int positive, int negative) =>
        new(new OnnxSteer.Pairs.ContrastivePair("p", " a", " b", "t"), Enumerable.Repeat(1, positive).ToList(), Enumerable.Repeat(1, negative).ToList(), 0);

    [Fact]
    public void Pairs_are_batched_by_length_so_padding_is_small_and_the_order_is_stable()
    {
        // Short and long prompts mixed, as task pairs come.
        var pairs = Enumerable.Range(0, 40).Select(i => i % 2 == 0 ? Pair(10 + i % 3, 11) : Pair(200 + i, 199)).ToList();
        var order = LengthOrder.Of(pairs);
        Assert.Equal(Enumerable.Range(0, 40), order.Order());
        var real = pairs.Sum(p => (long)Math.Max(p.Positive.Count, p.Negative.Count) * 2);
        var asTheyCome = LengthOrder.PaddedTokens(pairs, Enumerable.Range(0, 40).ToList(), 4);
        var sorted = LengthOrder.PaddedTokens(pairs, order, 4);
        Assert.True(asTheyCome > real * 1.5, $"the example must waste padding as it comes: {asTheyCome} vs {real}");
        Assert.True(sorted < real * 1.05, $"sorted by length: {sorted} tokens computed for {real} real ones");
        Assert.Equal(order, LengthOrder.Of(pairs)); // stable: a checkpoint resumes the same work
        Assert.Equal([0, 4, 6], order.Take(3)); // equal lengths keep their order (pairs 0, 4, 6 are 11 tokens, pair 2 is 12)
    }
}
