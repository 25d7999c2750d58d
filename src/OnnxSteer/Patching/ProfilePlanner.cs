using System.Security.Cryptography;
using OnnxSteer.ModelFiles;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Patching;

/// <summary>Patch-time choices that override the profile's stored selection.</summary>
/// <param name="K">Re-select this many units from the profile's counts.</param>
/// <param name="Alpha">Re-select with this strength.</param>
/// <param name="Sites">Restrict to these site kinds (re-selects).</param>
/// <param name="Force">Apply a profile recorded on another model (fingerprint or dtype mismatch), with a warning.</param>
internal sealed record PlanRequest(int? K = null, double? Alpha = null, IReadOnlyList<SiteKind>? Sites = null, bool Force = false)
{
    /// <summary>True when the profile's stored selection must be redone.</summary>
    public bool Reselects => K is not null || Alpha is not null || Sites is not null;
}

/// <summary>
/// Turns a profile into a <see cref="SteeringPlan"/> for one model: checks that the profile was recorded on this
/// model (fingerprint, site widths and element types), re-selects units when asked, and builds the vectors.
/// </summary>
internal static class ProfilePlanner
{
    /// <summary>sha256 of a file, lower-case hex.</summary>
    public static string Sha256OfFile(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>
    /// Builds the plan. <paramref name="model"/> and <paramref name="sites"/> must be the unsteered model and its sites
    /// (the fingerprint is of the unsteered graph). Warnings (e.g. a forced mismatch) are returned for printing.
    /// </summary>
    /// <exception cref="InvalidProfileException">The profile does not fit the model, or its selection is unusable.</exception>
    public static (SteeringPlan Plan, IReadOnlyList<ErrorText> Warnings) Build(SteeringProfile profile, string profilePath,
        string profileSha256, OnnxModel model, IReadOnlyList<SteeringSite> sites, PlanRequest request)
    {
        var warnings = new List<ErrorText>();
        var forced = new HashSet<string>(StringComparer.Ordinal);
        void Forced(string what)
        {
            if (forced.Add(what)) warnings.Add($"{what}; applied anyway ({Param("force")})");
        }
        var fingerprint = ModelFingerprint.Compute(model, sites);
        if (!string.Equals(fingerprint, profile.ModelFingerprint, StringComparison.Ordinal))
        {
            var what = $"{profilePath}: recorded on another model (fingerprint {Short(profile.ModelFingerprint)}" +
                       $"{(profile.ModelFile is null ? "" : $", {profile.ModelFile}")}; this model is {Short(fingerprint)})";
            if (!request.Force) throw new InvalidProfileException($"{what}; use {Param("force")} to apply it anyway");
            Forced(what);
        }

        var selected = profile;
        if (request.Reselects && profile.ControlVector is not null)
        {
            // An imported control vector has no statistics to re-select from: --alpha re-scales its vectors.
            if (request.K is not null || request.Sites is not null)
                throw new InvalidProfileException($"{profilePath}: an imported control vector has no statistics to re-select from; only {Param("alpha")} (its strength) applies");
            selected = ImportedVectors.Rescale(profile, request.Alpha!.Value, profilePath);
        }
        else if (request.Reselects)
        {
            if (profile.CountsOmitted)
                throw new ArgumentException("re-selection needs the profile's counts: load it with SteeringProfile.Load, not LoadSelection");
            var s = profile.Selection;
            var k = request.K ?? s.K;
            var alpha = request.Alpha ?? s.Alpha;
            if (profile.Method != SteeringMethod.Caa && k < 1)
                throw request.K is not null
                    ? new InvalidParameterException("k", $"{Param("k")} {k}: must be at least 1")
                    : new InvalidProfileException($"{profilePath}: the profile stores no selection (k = 0); give {Param("k")} and {Param("alpha")}");
            selected = UnitSelector.Reselect(profile, k, alpha, request.Sites);
        }

        // The checks depend only on the site, so each site is checked once (not once per unit: a profile selecting
        // every unit of a 7B model has ~500k units).
        var checkedSites = new Dictionary<(string, int), SiteKind>();
        SiteKind KindOf(string siteId, int layer)
        {
            if (checkedSites.TryGetValue((siteId, layer), out var known)) return known;
            return checkedSites[(siteId, layer)] = CheckSite(siteId, layer);
        }

        SiteKind CheckSite(string siteId, int layer)
        {
            var ps = selected.Site(siteId) ?? throw new InvalidProfileException($"{profilePath}: unit on site '{siteId}', which the profile does not describe");
            var ms = sites.FirstOrDefault(x => x.Kind == ps.Kind && x.Layer == ps.Layer);
            if (ms is not null)
            {
                var problems = new List<string>();
                if (ms.Width != ps.Width) problems.Add($"width {ps.Width} in the profile, {ms.Width} in the model");
                var dtype = ProfileSite.DtypeName(ms.ElementType);
                if (!string.Equals(dtype, ps.Dtype, StringComparison.OrdinalIgnoreCase)) problems.Add($"dtype {ps.Dtype} in the profile, {dtype} in the model");
                if (problems.Count > 0)
                {
                    var what = $"{profilePath}: site {siteId}: {string.Join(", ", problems)}";
                    // A width mismatch means the indices address other scalars: never applied, even with --force.
                    if (ms.Width != ps.Width) throw new InvalidProfileException(what);
                    if (!request.Force) throw new InvalidProfileException($"{what}; use {Param("force")} to apply it anyway");
                    Forced(what);
                }
            }
            if (ps.Layer != layer) throw new InvalidProfileException($"{profilePath}: unit on '{siteId}' says layer {layer}");
            return ps.Kind;
        }

        var provenance = new SteeringProvenance(selected.Method.ToName(),
            selected.Method == SteeringMethod.Caa ? null : selected.Selection.K, selected.Selection.Alpha, profileSha256);
        SteeringPlan plan;
        if (selected.Method == SteeringMethod.Caa)
        {
            if (selected.Caa.Count == 0) throw new InvalidProfileException($"{profilePath}: the caa profile holds no vectors; give {Param("alpha")} (and {Param("sites")}) to select them");
            plan = SteeringPlan.Add(sites, selected.Caa.Select(v => (KindOf(v.Site, v.Layer), v.Layer, v.Vector)).ToList(), provenance, profilePath);
        }
        else
        {
            if (selected.Units.Count == 0) throw new InvalidProfileException($"{profilePath}: the profile selects no units; give {Param("k")} and {Param("alpha")} to select them");
            plan = SteeringPlan.Scale(sites, selected.Units.Select(u => (KindOf(u.Site, u.Layer), u.Layer, u.Index, u.Gamma)).ToList(), provenance, profilePath);
        }
        return (plan, warnings);
    }

    private static string Short(string fingerprint) => fingerprint.Length > 19 ? fingerprint[..19] + "…" : fingerprint;
}
