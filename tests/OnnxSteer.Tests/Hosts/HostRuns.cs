using OnnxSteer.Generation;
using OnnxSteer.Patching;
using OnnxSteer.Runtime;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Tests.Hosts;

/// <summary>Greedy generations of one model folder in OnnxSteer's own loop and in onnxruntime-genai.</summary>
internal static class HostRuns
{
    /// <summary>Tokens per generation: enough for steering to show, few enough to keep the suite fast.</summary>
    public const int NewTokens = 24;

    /// <summary>The prompt of a source, encoded by the model's own tokenizer with BOS (what onnxsteer generate feeds).</summary>
    public static IReadOnlyList<int> Prompt(string folder, string text = "Once upon a time") =>
        TokenizerLoader.Load(folder).EncodeToIds(text);

    /// <summary>OnnxSteer's greedy tokens, with an optional strength fed to a switchable model.</summary>
    public static IReadOnlyList<int> Ours(string folder, IReadOnlyList<int> prompt, float? strength = null)
    {
        using var model = DecoderModel.Open(folder);
        using var value = strength is { } s
            ? OrtValue.CreateTensorValueFromMemory(new[] { s }, SwitchableSteering.StrengthShape)
            : null;
        if (value is not null) model.SetModelInput(SwitchableSteering.StrengthName, value);
        return new Generator(model).Generate(prompt, new SamplingSettings { MaxTokens = NewTokens }).GeneratedIds;
    }

    /// <summary>onnxruntime-genai's greedy tokens, with an optional .onnx_adapter active for the generator.</summary>
    public static IReadOnlyList<int> Genai(string folder, IReadOnlyList<int> prompt, string? adapter = null)
    {
        using var engine = GenaiHost.Open(folder);
        return engine.Collect(prompt, new SamplingSettings { MaxTokens = NewTokens }, adapter is null ? null : engine.UseAdapterFile(adapter), null, default).GeneratedIds;
    }
}
