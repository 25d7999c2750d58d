using OnnxSteer.Sites;
using OnnxSteer.Tests.Sites;
using Xunit;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// The "no steering site" error stays one short line for any number of layers: places that looked like sites grouped
/// by reason with a few examples, what the graph holds, and what to try. The 32-layer decoder sits in the then_branch of
/// an If whose else_branch holds nothing like it (<see cref="UnsupportedSitesTests.DecoderInsideIf"/>).
/// </summary>
public class NoSiteMessageTests
{
    [Fact]
    public void Ninety_six_unusable_places_give_one_bounded_line_grouped_by_reason_with_what_to_try()
    {
        var error = Assert.Throws<NoSitesFoundException>(() => SiteFinder.Find(UnsupportedSitesTests.DecoderInsideIf(layers: 32).Graph, "decoder_model_merged.onnx"));
        var message = error.Message;
        Assert.DoesNotContain('\n', message);
        Assert.True(message.Length < 2000, $"{message.Length} characters: {message}");
        Assert.StartsWith($"decoder_model_merged.onnx: no steering site found: {SiteFinder.WhatWasLookedFor}; seen: ", message);
        // One group for the one reason, with the count and two examples.
        Assert.Contains($"96 place(s) with the structure of a site not used because {SiteFinder.SubgraphReason}: ", message);
        Assert.Contains("and 94 more", message);
        Assert.Contains("If ×1 (control flow)", message);
        Assert.Contains("try: the decoder sits inside an If whose branches do not hold the same projections; use decoder_with_past_model.onnx", message);
    }

    [Fact]
    public void A_graph_of_int8_or_bnb4_projections_says_which_ops_it_saw()
    {
        var g = new TestGraph();
        var h = g.Input("h", TestGraph.Float);
        g.Node("MatMulBnb4", "/model/layers.0/mlp/down_proj/MatMulBnb4", [h, g.Weight("w", TestGraph.UInt8, 8)], domain: "com.microsoft");
        g.Output(g.Graph.Node[^1].Output[0], TestGraph.Float);
        var message = Assert.Throws<NoSitesFoundException>(() => SiteFinder.Find(g.Graph, "model_bnb4.onnx")).Message;
        Assert.Contains("MatMulBnb4 ×1 (bitsandbytes 4-bit weights)", message);
        Assert.Contains("try: MatMulBnb4 (bitsandbytes NF4/FP4) is not steerable", message);
    }
}
