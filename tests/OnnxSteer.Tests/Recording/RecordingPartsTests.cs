using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Pairs;
using OnnxSteer.Recording;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Patching;
using OnnxSteer.Tokenizers;
using Xunit;

namespace OnnxSteer.Tests.Recording;

public class PaddedBatchTests
{
    [Fact]
    public void Right_pads_and_points_each_row_at_its_own_last_token()
    {
        var batch = new PaddedBatch([[5, 6, 7], [9], [1, 2]]);
        Assert.Equal((3, 3), (batch.Batch, batch.Length));
        Assert.Equal([5L, 6, 7, 9, 0, 0, 1, 2, 0], batch.InputIds);
        Assert.Equal([1L, 1, 1, 1, 0, 0, 1, 1, 0], batch.AttentionMask);
        Assert.Equal([0L, 1, 2, 0, 1, 2, 0, 1, 2], batch.PositionIds);
        Assert.Equal([2L, 3, 7], batch.LastRows); // b*T + len-1
    }
}

public class SequenceEncoderTests
{
    /// <summary>One id per character (its code), BOS = 1: lengths are easy to work out by hand.</summary>
    private sealed class CharTokenizer : ITokenizer
    {
        public IReadOnlyList<int> EncodeToIds(string text, bool addBos = true) => (addBos ? [1] : Array.Empty<int>()).Concat(text.Select(c => (int)c)).ToList();
        public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true) => new(ids.Where(i => i != 1).Select(i => (char)i).ToArray());
        public int? BosTokenId => 1;
        public int? EosTokenId => 2;
        public int VocabSize => 256;
    }

    [Fact]
    public void Long_prompts_lose_tokens_from_the_left_after_bos_and_keep_the_answer()
    {
        var encoder = new SequenceEncoder(new CharTokenizer(), 6);
        var e = encoder.Encode(new ContrastivePair("abcdefgh", "XY", "Z", "t:1"));
        var tok = new CharTokenizer();
        Assert.Equal("fghXY", tok.Decode(e.Positive)); // BOS + last 5
        Assert.Equal(1, e.Positive[0]);
        Assert.Equal("efghZ", tok.Decode(e.Negative));
        Assert.Equal(2, e.TruncatedSequences);
        var fits = encoder.Encode(new ContrastivePair("ab", "c", "d", "t:2"));
        Assert.Equal(0, fits.TruncatedSequences);
        Assert.Equal([1, 'a', 'b', 'c'], fits.Positive);
    }

    [Fact]
    public void An_answer_longer_than_the_limit_is_a_bad_record()
    {
        var encoder = new SequenceEncoder(new CharTokenizer(), 4);
        var e = Assert.Throws<BadRecordException>(() => encoder.Encode(new ContrastivePair("p", "long answer", "n", "t:1")));
        Assert.Contains("positive answer", e.Message);
    }
}

public class ActivationTapsTests
{
    [Fact]
    public void Taps_gather_the_last_row_cast_to_float_and_replace_the_outputs()
    {
        var g = new GraphProto { Name = "g" };
        g.Input.Add(new ValueInfoProto { Name = "input_ids" });
        g.Output.Add(new ValueInfoProto { Name = "logits" });
        g.Node.Add(new NodeProto { Name = "act", OpType = "Relu", Input = { "input_ids" }, Output = { "h" } });
        g.Node.Add(new NodeProto { Name = "down", OpType = "MatMul", Input = { "h", "W" }, Output = { "logits" } });
        var model = new OnnxModel(new ModelProto { Graph = g });
        var site = new SteeringSite(SiteKind.Mlp, 0, 6, (int)TensorProto.Types.DataType.Float16, "down", "MatMul", "h");
        var taps = ActivationTaps.Build(model, [site]);
        Assert.Equal(["onnxsteer_tap/mlp.0/last"], taps.OutputNames);
        Assert.Equal(["onnxsteer_tap/mlp.0/last"], taps.Model.Graph.Output.Select(o => o.Name));
        Assert.Contains(taps.Model.Graph.Input, i => i.Name == ActivationTaps.RowsInput);
        // The projection that only fed the dropped output is pruned: the graph computes what the tap reads, no more.
        Assert.Equal(["act"], taps.Model.Graph.Node.Take(1).Select(n => n.Name));
        Assert.DoesNotContain(taps.Model.Graph.Node, n => n.Name == "down");
        var nodes = taps.Model.Graph.Node.Skip(1).ToList();
        Assert.Equal(["Reshape", "Gather", "Cast"], nodes.Select(n => n.OpType));
        Assert.Equal("h", nodes[0].Input[0]);
        Assert.Equal(ActivationTaps.RowsInput, nodes[1].Input[1]);
        Assert.Equal([-1L, 6], taps.Model.Graph.Initializer.Single().Int64Data);
        Assert.Single(model.Graph.Output); // the source is untouched
        Assert.Equal(2, model.Graph.Node.Count);
    }

    [Fact]
    public void Taps_take_fresh_names_when_a_subgraph_already_uses_tap_names_and_still_return_the_last_row()
    {
        var d = new TinyDecoder();
        var site = d.Sites()[1]; // mlp.0
        var thenBranch = new GraphProto { Name = "then" };
        thenBranch.Node.Add(TinyDecoder.Node("onnxsteer_tap/mlp.0/Cast", "Identity", ["x"], ["onnxsteer_tap/mlp.0/last"]));
        thenBranch.Output.Add(SubgraphNamingTests.Value("onnxsteer_tap/mlp.0/last", d.ElementType));
        var model = SubgraphNamingTests.WithIf(d, thenBranch);

        var taps = ActivationTaps.Build(new OnnxModel(model.Clone()), [site]);
        Assert.Equal(["onnxsteer_tap/mlp.0_2/last"], taps.OutputNames);
        Assert.Empty(SubgraphNamingTests.AddedNames(model, taps.Model).Intersect(SubgraphNamingTests.BranchNames(model)));

        // Batch 1, three tokens: the tap returns row 2 of the mlp activation, as the untapped model computes it.
        const int tokens = 3;
        var x = OrtHarness.Random(tokens * TinyDecoder.Hidden, seed: 4);
        using var xValue = OrtHarness.Tensor(x, [1, tokens, TinyDecoder.Hidden], d.ElementType);
        using var rows = OrtValue.CreateTensorValueFromMemory(new[] { (long)tokens - 1 }, [1]);
        // The If (and its cond input) feeds no tap, so the pruned graph has neither.
        Assert.DoesNotContain(taps.Model.Graph.Node, n => n.OpType == "If");
        Assert.DoesNotContain(taps.Model.Graph.Input, i => i.Name == "cond");
        var tapped = OrtHarness.Run(taps.Model, null,
            new Dictionary<string, OrtValue> { ["x"] = xValue, [ActivationTaps.RowsInput] = rows }, taps.OutputNames, d.ElementType);
        var full = OrtHarness.Run(d.Proto, null, new Dictionary<string, OrtValue> { ["x"] = xValue }, [TinyDecoder.MlpValue], d.ElementType);
        Assert.Equal(full[TinyDecoder.MlpValue][^site.Width..], tapped[taps.OutputNames[0]]);

        // The rows input has a fixed name (the recorder feeds it), so a model using it anywhere is refused.
        thenBranch.Node[0].Output[0] = ActivationTaps.RowsInput;
        thenBranch.Output[0].Name = ActivationTaps.RowsInput;
        var e = Assert.Throws<InvalidModelException>(() => ActivationTaps.Build(new OnnxModel(SubgraphNamingTests.WithIf(d, thenBranch)), [site]));
        Assert.Contains(ActivationTaps.RowsInput, e.Message);
    }
}
