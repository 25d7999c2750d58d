namespace OnnxSteer.Generation;

/// <summary>Why a generation stopped.</summary>
public enum StopReason
{
    /// <summary>A stop (EOS) token was produced; it is the last generated id.</summary>
    EndOfSequence,
    /// <summary><see cref="SamplingSettings.MaxTokens"/> tokens were produced.</summary>
    TokenLimit,
    /// <summary>The model's context length was reached.</summary>
    ContextLength,
}

/// <summary>The ids of one generation, from <see cref="Generator.Generate"/> or <see cref="GenaiHost.Collect"/>.</summary>
/// <param name="PromptIds">The prompt's ids, as given.</param>
/// <param name="GeneratedIds">The new ids, in order (a stop token, when one ended the generation, is the last).</param>
/// <param name="StopReason">Why the generation stopped.</param>
public sealed record GenerationResult(IReadOnlyList<int> PromptIds, IReadOnlyList<int> GeneratedIds, StopReason StopReason);
