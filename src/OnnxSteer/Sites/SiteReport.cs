namespace OnnxSteer.Sites;

/// <summary>
/// The steering sites found in a model, ordered by kind (attn, mlp, mlp-out) then layer, and the warnings raised
/// while finding them (for example where node names and graph structure disagree).
/// </summary>
/// <param name="Sites">Every site found, ordered by kind then layer.</param>
/// <param name="Warnings">Human-readable notes about doubtful structure or names; empty when all agreed.</param>
public sealed record SiteReport(IReadOnlyList<SteeringSite> Sites, IReadOnlyList<string> Warnings)
{
    /// <summary>The sites of one kind, in layer order.</summary>
    public IReadOnlyList<SteeringSite> OfKind(SiteKind kind) => Sites.Where(s => s.Kind == kind).ToList();

    /// <summary>The site of <paramref name="kind"/> at <paramref name="layer"/>, or null.</summary>
    public SteeringSite? Find(SiteKind kind, int layer) => Sites.FirstOrDefault(s => s.Kind == kind && s.Layer == layer);

    /// <summary>The site with identifier <paramref name="id"/> (e.g. <c>mlp-out.3</c>), or null.</summary>
    public SteeringSite? Find(string id) => Sites.FirstOrDefault(s => s.Id == id);
}
