using static OnnxSteer.ErrorText;

namespace OnnxSteer.Generation;

/// <summary>How to generate: token limit, decoding (greedy when <see cref="Temperature"/> is 0), stop tokens, cache use.</summary>
internal sealed record GenerationOptions
{
    /// <summary>At most this many new tokens.</summary>
    public int MaxNewTokens { get; init; } = 64;

    /// <summary>0 = greedy (argmax); above 0, sample from softmax(logits / temperature).</summary>
    public float Temperature { get; init; }

    /// <summary>Sample only among the K most likely tokens (0 = no limit).</summary>
    public int TopK { get; init; }

    /// <summary>Sample only among the smallest set of most likely tokens whose probability reaches P (1 = no limit).</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Seed for sampling; null = a random seed.</summary>
    public int? Seed { get; init; }

    /// <summary>Stop tokens; null = the model's (genai_config.json), else the tokenizer's EOS.</summary>
    public IReadOnlyList<int>? EosTokenIds { get; init; }

    /// <summary>Use the KV cache (one new token per step); false recomputes the whole sequence every step.</summary>
    public bool UseKvCache { get; init; } = true;

    /// <summary>Whether tokens are sampled rather than chosen greedily.</summary>
    public bool IsSampling => Temperature > 0;

    /// <summary>Throws <see cref="OnnxSteerException"/> (usage) for values out of range.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 0) throw new InvalidParameterException("maxNewTokens", $"{Param("maxNewTokens")} {MaxNewTokens}: must be 0 or more");
        if (Temperature < 0 || float.IsNaN(Temperature)) throw new InvalidParameterException("temperature", $"{Param("temperature")} {Temperature}: must be 0 (greedy) or more");
        if (TopK < 0) throw new InvalidParameterException("topK", $"{Param("topK")} {TopK}: must be 0 (no limit) or more");
        if (!(TopP > 0 && TopP <= 1)) throw new InvalidParameterException("topP", $"{Param("topP")} {TopP}: must be in (0, 1]");
    }
}

/// <summary>Why generation stopped.</summary>
internal enum StopReason
{
    /// <summary>A stop (EOS) token was produced; it is the last generated id.</summary>
    EndOfSequence,
    /// <summary><see cref="GenerationOptions.MaxNewTokens"/> tokens were produced.</summary>
    TokenLimit,
    /// <summary>The model's context length was reached.</summary>
    ContextLength,
}

/// <summary>The ids of one generation.</summary>
internal sealed record GenerationResult(IReadOnlyList<int> PromptIds, IReadOnlyList<int> GeneratedIds, StopReason StopReason);
