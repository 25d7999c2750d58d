using OnnxSteer.Generation;

namespace OnnxSteer.Server;

/// <summary>
/// The steering one request asks for: a profile loaded at start, by name, and the strength to apply it at (1 = as
/// profiled and patched, 0 = off). <see cref="Vanilla"/> is the unsteered model.
/// </summary>
public sealed record SteeringChoice(string? Profile, float Strength)
{
    /// <summary>No steering: the base model.</summary>
    public static SteeringChoice Vanilla { get; } = new(null, 0f);

    /// <summary>Whether this computes exactly what the base model computes (no profile, or strength 0).</summary>
    public bool IsVanilla => Steps is null && (Profile is null || Strength == 0f);

    /// <summary>
    /// Composed steering: two or more profiles, each at its own strength, applied in this order; null for one profile
    /// (or none). <see cref="Profile"/> then joins their names with '+' and <see cref="Strength"/> is 1.
    /// </summary>
    public IReadOnlyList<ProfileStrength>? Steps { get; init; }

    /// <summary>Every profile this setting applies.</summary>
    public IEnumerable<string> ProfileNames => Steps?.Select(s => s.Profile) ?? (Profile is null ? [] : [Profile]);

    /// <summary><paramref name="steps"/> without those at strength 0: vanilla, one profile, or composed steering.</summary>
    public static SteeringChoice Compose(IReadOnlyList<ProfileStrength> steps)
    {
        var active = steps.Where(s => s.Strength != 0f).ToList();
        return active.Count switch
        {
            0 => Vanilla,
            1 => new SteeringChoice(active[0].Profile, active[0].Strength),
            _ => new SteeringChoice(string.Join("+", active.Select(s => s.Profile)), 1f) { Steps = active },
        };
    }

    /// <summary>For logs: <c>none</c>, <c>happy@0.5</c>, <c>calm@1.5+happy@-0.5</c>.</summary>
    public string Label => Steps is { } steps ? string.Join("+", steps.Select(s => $"{s.Profile}@{Number(s.Strength)}"))
        : Profile is null ? "none" : $"{Profile}@{Number(Strength)}";

    private static string Number(float v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// Produces tokens for one request: a prompt, the steering to apply and how to decode, in, generated ids out (the last
/// one is the stop token when the model stopped by itself). Every steering mechanism the server can use is one of these,
/// so the mechanism that applies a per-request strength can be swapped without touching the HTTP side.
/// </summary>
public interface IGenerationEngine : IDisposable
{
    /// <summary>A short name for logs and responses ("genai").</summary>
    string Name { get; }

    /// <summary>Whether this engine can apply <paramref name="steering"/>.</summary>
    bool Serves(SteeringChoice steering);

    /// <summary>
    /// The generated ids, produced lazily, one per step, on the calling thread; disposing the enumerator frees the
    /// generation state. Cancelling stops between steps.
    /// </summary>
    IEnumerable<int> Generate(IReadOnlyList<int> promptIds, SteeringChoice steering, SamplingSettings sampling, CancellationToken cancellationToken);
}
