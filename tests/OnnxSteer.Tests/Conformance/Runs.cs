using OnnxSteer.Generation;
using OnnxSteer.Patching;
using OnnxSteer.Runtime;

namespace OnnxSteer.Tests.Conformance;

/// <summary>What the conformance tests run a model for: logits of one prompt, greedy tokens.</summary>
internal static class Runs
{
    /// <summary>The prompt every conformance test feeds (stories260K token ids, BOS first).</summary>
    public static readonly int[] Prompt = [1, 66, 82, 300, 45, 67, 290, 123, 7, 99, 400];

    /// <summary>Logits at every position of <see cref="Prompt"/>; <paramref name="strength"/> is fed to a switchable model.</summary>
    public static float[] Logits(string file, float? strength = null)
    {
        using var model = DecoderModel.Open(file);
        using var value = strength is { } v ? OrtValue.CreateTensorValueFromMemory(new[] { v }, SwitchableSteering.StrengthShape) : null;
        if (value is not null) model.SetModelInput(SwitchableSteering.StrengthName, value);
        return model.Forward(Prompt).Data;
    }

    /// <summary>OnnxSteer's greedy tokens after <see cref="Prompt"/>.</summary>
    public static IReadOnlyList<int> Greedy(string file, int tokens = 12)
    {
        using var model = DecoderModel.Open(file);
        return new Generator(model).Generate(Prompt, new SamplingSettings { MaxTokens = tokens }).GeneratedIds;
    }
}
