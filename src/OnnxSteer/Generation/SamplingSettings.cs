using static OnnxSteer.ErrorText;

namespace OnnxSteer.Generation;

/// <summary>
/// How one generation decodes, in onnxsteer's own loop (<see cref="Generator"/>) and in onnxruntime-genai
/// (<see cref="GenaiHost"/>) alike: greedy at temperature 0, else sampled from
/// softmax(logits / temperature), among the <see cref="TopK"/> most likely tokens (0 = all) and the nucleus of mass
/// <see cref="TopP"/>, seeded when <see cref="Seed"/> is given (the same seed and settings give the same tokens).
/// </summary>
public sealed record SamplingSettings
{
    /// <summary>At most this many new tokens.</summary>
    public int MaxTokens { get; init; } = 16;

    /// <summary>0 = greedy.</summary>
    public float Temperature { get; init; }

    /// <summary>Sample only among this many most likely tokens (0 = no limit; 1 = greedy).</summary>
    public int TopK { get; init; }

    /// <summary>Nucleus mass (1 = all tokens).</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Seed for sampling; null = random.</summary>
    public int? Seed { get; init; }

    /// <summary>Whether tokens are sampled rather than chosen greedily.</summary>
    public bool IsSampling => Temperature > 0;

    /// <summary>
    /// Throws <see cref="InvalidParameterException"/> for a value out of range: a negative token limit, a temperature
    /// that is negative or not finite (NaN, +∞), a negative top-k, a top-p outside (0, 1]. Both engines call it before
    /// generating.
    /// </summary>
    public void Validate()
    {
        if (MaxTokens < 0) throw new InvalidParameterException("maxTokens", $"{Param("maxTokens")} {MaxTokens}: must be 0 or more");
        if (Temperature < 0 || !float.IsFinite(Temperature)) throw new InvalidParameterException("temperature", $"{Param("temperature")} {Temperature}: must be 0 (greedy) or a finite number above 0");
        if (TopK < 0) throw new InvalidParameterException("topK", $"{Param("topK")} {TopK}: must be 0 (no limit) or more");
        if (!(TopP > 0 && TopP <= 1)) throw new InvalidParameterException("topP", $"{Param("topP")} {TopP}: must be in (0, 1]");
    }
}
