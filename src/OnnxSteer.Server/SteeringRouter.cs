namespace OnnxSteer.Server;

/// <summary>
/// Picks the engine that serves a request's steering: the first of its engines, in order, that can apply it. The
/// server is built with onnxruntime-genai alone (<see cref="GenaiEngine"/>: vanilla, and every profile at any strength
/// through adapters); another host would be one more engine in this list, with nothing else changed.
/// </summary>
public sealed class SteeringRouter(IReadOnlyList<IGenerationEngine> engines) : IDisposable
{
    /// <summary>The engines, in order of preference.</summary>
    public IReadOnlyList<IGenerationEngine> Engines { get; } = engines;

    /// <summary>The engine for <paramref name="steering"/>.</summary>
    /// <exception cref="InvalidOperationException">No engine applies it (the caller validated the profile first).</exception>
    public IGenerationEngine For(SteeringChoice steering) =>
        Engines.FirstOrDefault(e => e.Serves(steering)) ?? throw new InvalidOperationException($"no engine serves {steering}");

    public void Dispose()
    {
        foreach (var e in Engines) e.Dispose();
    }
}
