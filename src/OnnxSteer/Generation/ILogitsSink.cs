namespace OnnxSteer.Generation;

/// <summary>
/// Receives the logit rows behind a generation: <see cref="Row"/> once per scored token, with the token the row is
/// scored against (the next prompt token, or the token generated from it), in order.
/// </summary>
public interface ILogitsSink
{
    /// <summary>Whether the prompt's own tokens are scored (echo); the first prompt token has no row.</summary>
    bool WantsPrompt { get; }

    /// <summary>The logits (one per vocabulary entry) of the position before <paramref name="token"/>.</summary>
    void Row(ReadOnlySpan<float> logits, int token);
}
