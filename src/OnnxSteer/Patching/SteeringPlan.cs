using OnnxSteer.Sites;

namespace OnnxSteer.Patching;

/// <summary>How a site's vector acts on the activation.</summary>
internal enum SteeringOperation
{
    /// <summary>x' = v ⊙ x, with v_i = 1 + gamma_i for steered units and 1 elsewhere (AUSteer).</summary>
    Scale,
    /// <summary>x' = x + c (CAA-style additive steering).</summary>
    Add,
}

/// <summary>One steered scalar: unit <see cref="Index"/> of a site and its coefficient (gamma for scaling, the offset for adding).</summary>
internal sealed record UnitSteering(int Index, double Value);

/// <summary>
/// What to do at one site: the full-width vector (element type float32 here; it is rounded to the site's element
/// type when written) and the units that differ from the identity. <see cref="Gate"/>, when set (<c>patch --dynamic</c>),
/// is the probe whose probability scales the steering at every position.
/// </summary>
internal sealed record SiteSteering(SteeringSite Site, float[] Vector, IReadOnlyList<UnitSteering> Units, Profiles.LayerProbe? Gate = null);

/// <summary>Where a plan came from, recorded in the steered model's metadata.</summary>
/// <param name="Method">Profile method, e.g. <c>austeer</c>, <c>random</c>, <c>caa</c>.</param>
/// <param name="K">Number of steered units (null when not applicable).</param>
/// <param name="Alpha">Global strength.</param>
/// <param name="ProfileSha256">sha256 of the profile file, lower-case hex (null when the plan was built in code).</param>
internal sealed record SteeringProvenance(string Method, int? K, double Alpha, string? ProfileSha256);

/// <summary>
/// A complete steering decision for one model: for each steered site, a constant vector and how it acts.
/// Built from sites found in the model, so widths and element types are the model's own.
/// </summary>
internal sealed class SteeringPlan
{
    /// <summary>Scale (AUSteer) or Add (CAA).</summary>
    public SteeringOperation Operation { get; }

    /// <summary>The steered sites, in layer order.</summary>
    public IReadOnlyList<SiteSteering> Sites { get; }

    /// <summary>Provenance for the metadata.</summary>
    public SteeringProvenance Provenance { get; }

    private SteeringPlan(SteeringOperation operation, IReadOnlyList<SiteSteering> sites, SteeringProvenance provenance)
    {
        Operation = operation;
        Sites = sites;
        Provenance = provenance;
    }

    /// <summary>
    /// A scaling plan: unit (kind, layer, index) gets factor 1 + gamma. Refuses (with <see cref="InvalidProfileException"/>)
    /// a unit on a site the model lacks, an index beyond the width, a non-finite gamma, a factor the element type
    /// cannot hold, and the same unit twice. <paramref name="source"/> names the profile in messages.
    /// </summary>
    public static SteeringPlan Scale(IReadOnlyList<SteeringSite> modelSites,
        IEnumerable<(SiteKind Kind, int Layer, int Index, double Gamma)> units, SteeringProvenance provenance,
        string source = "profile")
    {
        var bySite = new Dictionary<string, (SteeringSite Site, SortedDictionary<int, double> Units)>(StringComparer.Ordinal);
        var found = new Dictionary<(SiteKind, int), SteeringSite>();
        foreach (var (kind, layer, index, gamma) in units)
        {
            if (!found.TryGetValue((kind, layer), out var site)) found[(kind, layer)] = site = FindSite(modelSites, kind, layer, source);
            if (index < 0 || index >= site.Width)
                throw new InvalidProfileException($"{source}: unit {site.Id}[{index}] is beyond the site's width {site.Width}");
            if (!double.IsFinite(gamma))
                throw new InvalidProfileException($"{source}: unit {site.Id}[{index}] has a non-finite gamma ({gamma})");
            var factor = 1.0 + gamma;
            if (!ElementEncoding.IsRepresentable(factor, site.ElementType))
                throw new InvalidProfileException(
                    $"{source}: unit {site.Id}[{index}] factor 1+gamma = {factor} does not fit the site's element type {ElementEncoding.Name(site.ElementType)}");
            if (!bySite.TryGetValue(site.Id, out var entry)) bySite[site.Id] = entry = (site, new SortedDictionary<int, double>());
            if (!entry.Units.TryAdd(index, gamma))
                throw new InvalidProfileException($"{source}: unit {site.Id}[{index}] is listed twice");
        }
        var sites = bySite.Values
            .OrderBy(e => e.Site.Layer).ThenBy(e => e.Site.Kind)
            .Select(e =>
            {
                var vector = new float[e.Site.Width];
                Array.Fill(vector, 1f);
                foreach (var (index, gamma) in e.Units) vector[index] = (float)(1.0 + gamma);
                return new SiteSteering(e.Site, vector, e.Units.Select(u => new UnitSteering(u.Key, u.Value)).ToList());
            })
            .ToList();
        return new SteeringPlan(SteeringOperation.Scale, sites, provenance);
    }

    /// <summary>
    /// An additive plan: each (kind, layer) gets the full-width vector added. Refuses unknown sites, wrong widths and
    /// non-finite entries.
    /// </summary>
    public static SteeringPlan Add(IReadOnlyList<SteeringSite> modelSites,
        IEnumerable<(SiteKind Kind, int Layer, float[] Vector)> vectors, SteeringProvenance provenance,
        string source = "profile")
    {
        var sites = new List<SiteSteering>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (kind, layer, vector) in vectors)
        {
            var site = FindSite(modelSites, kind, layer, source);
            if (!seen.Add(site.Id)) throw new InvalidProfileException($"{source}: site {site.Id} is listed twice");
            if (vector.Length != site.Width)
                throw new InvalidProfileException($"{source}: site {site.Id} vector has {vector.Length} entries, the site's width is {site.Width}");
            var units = new List<UnitSteering>();
            for (var i = 0; i < vector.Length; i++)
            {
                if (!float.IsFinite(vector[i]) || !ElementEncoding.IsRepresentable(vector[i], site.ElementType))
                    throw new InvalidProfileException($"{source}: site {site.Id}[{i}] offset {vector[i]} is not finite in {ElementEncoding.Name(site.ElementType)}");
                if (vector[i] != 0f) units.Add(new UnitSteering(i, vector[i]));
            }
            sites.Add(new SiteSteering(site, (float[])vector.Clone(), units));
        }
        sites.Sort((a, b) => a.Site.Layer != b.Site.Layer ? a.Site.Layer.CompareTo(b.Site.Layer) : a.Site.Kind.CompareTo(b.Site.Kind));
        return new SteeringPlan(SteeringOperation.Add, sites, provenance);
    }

    /// <summary>The same plan on sites re-addressed by <paramref name="map"/> (e.g. value names in an already-steered graph).</summary>
    public SteeringPlan MapSites(Func<SteeringSite, SteeringSite> map) =>
        new(Operation, Sites.Select(s => s with { Site = map(s.Site) }).ToList(), Provenance);

    /// <summary>The same plan with <paramref name="sites"/> in place of its sites (e.g. a subset, gated).</summary>
    public SteeringPlan WithSites(IReadOnlyList<SiteSteering> sites) => new(Operation, sites, Provenance);

    private static SteeringSite FindSite(IReadOnlyList<SteeringSite> modelSites, SiteKind kind, int layer, string source) =>
        modelSites.FirstOrDefault(s => s.Kind == kind && s.Layer == layer)
        ?? throw new InvalidProfileException(
            $"{source}: site {kind.ToName()}.{layer} does not exist in the model (it has {DescribeSites(modelSites, kind)})");

    private static string DescribeSites(IReadOnlyList<SteeringSite> sites, SiteKind kind)
    {
        var layers = sites.Where(s => s.Kind == kind).Select(s => s.Layer).OrderBy(l => l).ToList();
        return layers.Count == 0 ? $"no {kind.ToName()} sites" : $"{kind.ToName()} sites for layers {layers.First()}..{layers.Last()}";
    }
}
