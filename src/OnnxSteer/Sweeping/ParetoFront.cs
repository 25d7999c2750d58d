using OnnxSteer.Evaluation;

namespace OnnxSteer.Sweeping;

/// <summary>
/// The settings worth their cost: target behaviour (validation accuracy, higher is better) against cost (the fluency
/// drop from the vanilla model on neutral text, nats per token, lower is better). A setting is on the front when no
/// other is at least as good on both and better on one.
/// </summary>
public static class ParetoFront
{
    /// <summary>Fluency cost of <paramref name="s"/>: the vanilla model's mean log-likelihood per token minus the setting's (&lt; 0: more fluent).</summary>
    public static double Cost(SettingResult s, FluencyResult vanilla) => vanilla.MeanLogLikelihood - s.Fluency.MeanLogLikelihood;

    /// <summary>The non-dominated settings, cheapest first; of settings equal on both axes the first in the tie rule's order is kept.</summary>
    public static IReadOnlyList<SettingResult> Of(IReadOnlyList<SettingResult> settings, FluencyResult vanilla)
    {
        var front = new List<SettingResult>();
        // Cheapest first, and at equal cost the most accurate (then the tie rule): each point joins when it is more
        // accurate than every cheaper point kept so far.
        var ordered = SettingChooser.Order(settings).ToList();
        foreach (var s in ordered.OrderBy(s => Cost(s, vanilla)).ThenByDescending(s => s.Validation.Accuracy).ThenBy(ordered.IndexOf))
            if (front.Count == 0 || s.Validation.Accuracy > front[^1].Validation.Accuracy) front.Add(s);
        return front;
    }
}
