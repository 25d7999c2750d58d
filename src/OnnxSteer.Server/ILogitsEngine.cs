using OnnxSteer.Generation;

namespace OnnxSteer.Server;

/// <summary>An engine that can hand out the logit rows behind what it generates (for log-probabilities).</summary>
public interface ILogitsEngine : IGenerationEngine
{
    /// <summary>As <see cref="IGenerationEngine.Generate"/>, handing <paramref name="logits"/> (when given) the rows the tokens were scored with.</summary>
    IEnumerable<int> Generate(IReadOnlyList<int> promptIds, SteeringChoice steering, SamplingSettings sampling, ILogitsSink? logits,
        CancellationToken cancellationToken);
}
