namespace OnnxSteer.Sites;

/// <summary>
/// The steering sites found in a model, ordered by kind (attn, mlp, mlp-out) then layer, and the warnings raised
/// while finding them (for example where node names and graph structure disagree).
/// </summary>
/// <param name="Sites">Every site found, ordered by kind then layer.</param>
/// <param name="Warnings">Human-readable notes about doubtful structure or names; empty when all agreed.</param>
public sealed record SiteReport(IReadOnlyList<SteeringSite> Sites, IReadOnlyList<WarningText> Warnings)
{
    /// <summary>
    /// Places that have the structure of a site but cannot be steered (inside an If/Loop/Scan body, a Gemm with
    /// transA=1), each with the reason; every one is also described in <see cref="Warnings"/>. Never part of
    /// <see cref="Sites"/>.
    /// </summary>
    public IReadOnlyList<UnsupportedSite> Unsupported { get; internal init; } = [];

    /// <summary>The sites of one kind, in layer order.</summary>
    public IReadOnlyList<SteeringSite> OfKind(SiteKind kind) => Sites.Where(s => s.Kind == kind).ToList();

    /// <summary>The site of <paramref name="kind"/> at <paramref name="layer"/>, or null.</summary>
    public SteeringSite? Find(SiteKind kind, int layer) => Sites.FirstOrDefault(s => s.Kind == kind && s.Layer == layer);

    /// <summary>The site with identifier <paramref name="id"/> (e.g. <c>mlp-out.3</c>), or null.</summary>
    public SteeringSite? Find(string id) => Sites.FirstOrDefault(s => s.Id == id);
}

/// <summary>A place with the structure of a steering site that OnnxSteer cannot steer, and why.</summary>
/// <param name="Id">The identifier it would have (e.g. <c>attn.0</c>; numbered within its own graph).</param>
/// <param name="Kind">The site kind.</param>
/// <param name="ProjectionNode">Name of the projection node.</param>
/// <param name="ProjectionOpType">Op type of the projection node.</param>
/// <param name="ValueName">The value that would be steered.</param>
/// <param name="Location">The graph holding it: <c>main</c>, or a path such as <c>main/If_0.then_branch</c>.</param>
/// <param name="Reason">Why it is not a site.</param>
/// <param name="Evidence">What in the structure identified it.</param>
public sealed record UnsupportedSite(string Id, SiteKind Kind, string ProjectionNode, string ProjectionOpType, string ValueName,
    string Location, string Reason, string Evidence);
