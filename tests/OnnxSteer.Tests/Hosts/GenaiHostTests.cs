using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Hosts;

/// <summary>
/// onnxruntime-genai 0.20 (its own ONNX Runtime 1.32, its own KV-cache handling and search) as a host: for stories260K in
/// both export styles and fp32/fp16/int4, and for the shared genai fp16 export, its greedy tokens equal OnnxSteer's own
/// generation token for token, for the vanilla model and every way of steering it.
/// </summary>
public sealed class GenaiHostTests(ITestOutputHelper output)
{
    public static TheoryData<string> Sources() => new(SteeredVariants.Sources);

    [SharedTheory]
    [MemberData(nameof(Sources))]
    public void Genai_greedy_tokens_equal_ours_for_every_patch_mode(string source)
    {
        var prompt = HostRuns.Prompt(SteeredVariants.Source(source));
        var vanilla = HostRuns.Ours(SteeredVariants.Source(source), prompt);
        var mismatches = new List<string>();
        foreach (var mode in Enum.GetValues<PatchMode>())
        {
            var folder = SteeredVariants.Get(source, mode);
            var ours = HostRuns.Ours(folder, prompt);
            var genai = HostRuns.Genai(folder, prompt);
            var same = ours.Zip(genai).TakeWhile(p => p.First == p.Second).Count();
            output.WriteLine($"{source} {mode}: {same}/{ours.Count} tokens equal; steered differs from vanilla: {!ours.SequenceEqual(vanilla)}");
            if (!ours.SequenceEqual(genai))
                mismatches.Add($"{mode}: ours [{string.Join(",", ours)}] genai [{string.Join(",", genai)}]");
            // Steering that leaves the tokens alone would make the equality above prove nothing about the steering.
            if (mode != PatchMode.Vanilla && ours.SequenceEqual(vanilla))
                mismatches.Add($"{mode}: the steered model generates the vanilla tokens");
        }
        Assert.True(mismatches.Count == 0, $"{source}:\n" + string.Join("\n", mismatches));
    }

    /// <summary>
    /// <c>patch --dynamic</c> in genai: the gates (sigmoid of a probe over each site's input, computed in the graph at
    /// every position, so also over genai's KV-cached steps) must give our greedy tokens, and steer away from both the
    /// vanilla tokens and the uniform patch's (or the gate would be idle or saturated).
    /// </summary>
    [SharedTheory]
    [InlineData("genai/fp32")]
    [InlineData("standard/fp32")]
    [InlineData("genai/fp16")]
    [InlineData("standard/int4")]
    [InlineData(SteeredVariants.SharedGenai)]
    public void Genai_greedy_tokens_equal_ours_for_a_dynamically_steered_model(string source)
    {
        var prompt = HostRuns.Prompt(SteeredVariants.Source(source));
        var folder = SteeredVariants.Dynamic(source);
        var ours = HostRuns.Ours(folder, prompt);
        var genai = HostRuns.Genai(folder, prompt);
        var vanilla = HostRuns.Ours(SteeredVariants.Source(source), prompt);
        var uniform = HostRuns.Ours(SteeredVariants.Get(source, PatchMode.Mul), prompt);
        output.WriteLine($"{source} dynamic: {ours.Zip(genai).TakeWhile(p => p.First == p.Second).Count()}/{ours.Count} tokens equal; " +
                         $"differs from vanilla: {!ours.SequenceEqual(vanilla)}, from the uniform patch: {!ours.SequenceEqual(uniform)}");
        Assert.Equal(ours, genai);
        Assert.NotEqual(vanilla, ours);
        Assert.NotEqual(uniform, ours);
    }
}
