using OnnxSteer.Import;
using OnnxSteer.Tests.Import;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Reference;

/// <summary>
/// The C# reference forward pass and the imported ONNX models against llama2.c's own run.c (see
/// <see cref="Llama2cRunFixture"/>): same greedy story token for token, and the same logits at positions 0, 1 and 63
/// within a float32 tolerance (both printed by each test).
/// </summary>
public sealed class Llama2cRunAnchorTests(ITestOutputHelper output)
{
    /// <summary>LlamaReference accumulates in float32 in run.c's order: measured bit-identical (0) at all three positions;
    /// 1e-6 leaves room for a compiler's reassociation, far below what a wrong weight, eps or theta does (> 1e-3).</summary>
    private const double ReferenceTolerance = 1e-6;

    /// <summary>ONNX fp32 through ORT's kernels (other summation order, fused attention): measured up to 9.5e-6 on logits
    /// of magnitude ~10 (standard export, position 63); 5e-5 is a 5x margin.</summary>
    private const double OnnxTolerance = 5e-5;

    private static Llama2cRunFixture Fixture => Llama2cRunFixture.Instance;

    [SharedFact]
    public void Fixture_was_made_from_the_checkpoint_and_tokenizer_in_shared()
    {
        Assert.Equal(Fixture.CheckpointSha256, Llama2cRunFixture.Sha256(ImportedModels.CheckpointPath));
        Assert.Equal(Fixture.TokenizerSha256, Llama2cRunFixture.Sha256(ImportedModels.TokenizerPath));
        Assert.Equal(257, Fixture.GreedyIds.Count);
        Assert.Equal([0, 1, 63], Fixture.LogitsAtStep.Keys.Order());
    }

    [SharedFact]
    public void Reference_greedy_story_equals_run_c_token_for_token()
    {
        var ids = LlamaReference.Load(ImportedModels.CheckpointPath).Greedy([1], Fixture.GreedyIds.Count - 1, stopToken: 1);
        Assert.Equal(Fixture.GreedyIds, ids);
    }

    [SharedFact]
    public void Reference_logits_equal_run_c_at_positions_0_1_and_63()
    {
        var run = LlamaReference.Load(ImportedModels.CheckpointPath).Forward(Fixture.GreedyIds.Take(64).ToList());
        foreach (var (step, expected) in Fixture.LogitsAtStep)
        {
            var difference = Llama2cRunFixture.MaxAbsDifference(run.Logits[step], expected);
            output.WriteLine($"position {step}: max |reference - run.c| = {difference:G3}");
            Assert.True(difference <= ReferenceTolerance, $"position {step}: {difference}");
        }
    }

    [SharedTheory]
    [InlineData("genai")]
    [InlineData("standard")]
    public void Onnx_fp32_logits_and_greedy_story_equal_run_c(string style)
    {
        using var runner = new OnnxLlamaRunner(ImportedModels.Get(style, "fp32"));
        var logits = runner.Logits(Fixture.GreedyIds.Take(64).ToList());
        foreach (var (step, expected) in Fixture.LogitsAtStep)
        {
            var difference = Llama2cRunFixture.MaxAbsDifference(logits[step], expected);
            output.WriteLine($"{style} position {step}: max |onnx - run.c| = {difference:G3}");
            Assert.True(difference < OnnxTolerance, $"{style} position {step}: {difference}");
        }
        Assert.Equal(Fixture.GreedyIds, runner.Greedy([1], Fixture.GreedyIds.Count - 1, stopToken: 1));
    }
}
