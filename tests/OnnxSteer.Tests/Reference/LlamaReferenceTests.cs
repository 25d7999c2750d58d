using OnnxSteer.Import;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Reference;

public sealed class LlamaReferenceTests(ITestOutputHelper output)
{
    private static readonly int[] Prompt = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338];

    private static Llama2cCheckpoint Stories() => Llama2cCheckpoint.Load(SharedData.Path("models", "stories260K", "stories260K.bin"));

    [SharedFact]
    public void Stories260K_header_is_read_as_SOURCES_md_describes_it()
    {
        var c = Stories().Config;
        Assert.Equal((64, 172, 5, 8, 4, 512, 512), (c.Dim, c.HiddenDim, c.Layers, c.Heads, c.KvHeads, c.VocabSize, c.MaxSequenceLength));
        Assert.True(Stories().SharedClassifier);
    }

    [SharedFact]
    public void Logits_match_an_independent_double_precision_implementation_at_every_position()
    {
        var checkpoint = Stories();
        var run = new LlamaReference(checkpoint).Forward(Prompt);
        var naive = NaiveLlama.Logits(checkpoint, Prompt);
        double worst = 0;
        for (int p = 0; p < Prompt.Length; p++)
            for (int v = 0; v < naive[p].Length; v++) worst = Math.Max(worst, Math.Abs(run.Logits[p][v] - naive[p][v]));
        output.WriteLine($"max |reference - naive| over {Prompt.Length} positions x 512 logits: {worst:G3}");
        Assert.True(worst < 1e-4, $"max difference {worst}");
    }

    [SharedFact]
    public void Recorded_activations_have_site_widths_and_down_proj_output_is_W2_times_its_input()
    {
        var checkpoint = Stories();
        var run = new LlamaReference(checkpoint).Forward(Prompt);
        var c = checkpoint.Config;
        Assert.Equal(c.Layers, run.Layers.Length);
        for (int l = 0; l < c.Layers; l++)
        {
            var layer = run.Layers[l];
            Assert.Equal(c.Dim, layer.LastOProjInput.Length);
            Assert.Equal(c.HiddenDim, layer.LastDownProjInput.Length);
            Assert.Equal(c.Dim, layer.LastDownProjOutput.Length);
            for (int i = 0; i < c.Dim; i++)
            {
                double expected = 0;
                for (int j = 0; j < c.HiddenDim; j++) expected += checkpoint.W2[(long)l * c.Dim * c.HiddenDim + i * c.HiddenDim + j] * layer.LastDownProjInput[j];
                Assert.True(Math.Abs(expected - layer.LastDownProjOutput[i]) < 1e-5, $"layer {l} unit {i}: {expected} vs {layer.LastDownProjOutput[i]}");
            }
        }
    }

    [SharedFact]
    public void Greedy_decoding_equals_argmax_of_a_fresh_forward_pass_at_each_step()
    {
        var reference = new LlamaReference(Stories());
        var ids = reference.Greedy([1], 12);
        Assert.Equal(13, ids.Count);
        var run = reference.Forward(ids.Take(12).ToList());
        for (int p = 0; p < 12; p++) Assert.Equal(ids[p + 1], LlamaReference.ArgMax(run.Logits[p]));
    }
}
