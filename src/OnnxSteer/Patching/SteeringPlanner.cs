using OnnxSteer.Graph;
using OnnxSteer.ModelFiles;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Patching;

/// <summary>What <see cref="SteeringPlanner.Plan"/> decided: the graph to rewrite, the plan for it, and what the user should hear.</summary>
/// <param name="Graph">The graph the plan is addressed to: the unsteered model, or (stacking) the model as loaded.</param>
/// <param name="Plan">The vectors per site, with their gates when dynamic.</param>
/// <param name="Warnings">Every warning: what reading the profile found, a forced mismatch, factors 1 + gamma below zero.</param>
/// <param name="Notes">Things worth knowing: k beyond a ranked list, sites a gate leaves unsteered.</param>
internal sealed record PlannedSteering(OnnxModel Graph, SteeringPlan Plan, IReadOnlyList<ErrorText> Warnings, IReadOnlyList<ErrorText> Notes);

/// <summary>
/// Turns a profile into a <see cref="SteeringPlan"/> for one model, in one place: resolves earlier steering (refuse,
/// replace, stack), checks that the profile was recorded on this model (fingerprint, site widths and element types),
/// re-selects units when the request asks (alpha becomes gamma here, through <see cref="UnitSelector"/>), builds the
/// vectors, attaches the gates of a dynamic patch, and collects every warning, so a library caller hears what the CLI
/// prints. Nothing here rewrites a graph (<see cref="GraphPatcher"/> does).
/// </summary>
internal static class SteeringPlanner
{
    /// <summary>Plans <paramref name="source"/>'s profile for <paramref name="target"/> as <paramref name="request"/> asks.</summary>
    /// <exception cref="InvalidInputException">The model is already steered and the request refuses that.</exception>
    /// <exception cref="InvalidProfileException">The profile does not fit the model, or its selection is unusable.</exception>
    public static PlannedSteering Plan(SteeringTarget target, IProfileSource source, PatchRequest request)
    {
        if (target.IsSteered && request.Existing == ExistingSteering.Refuse)
            throw AlreadySteered(target.Name, SteeringMetadata.Read(target.Model.Proto, target.Name)[^1]);

        var loaded = source.Load(target, request);
        var warnings = new List<ErrorText>(loaded.Warnings);
        var notes = new List<ErrorText>();
        var plan = Build(loaded, source.Name, target, request, warnings, notes);
        if (request.Options.Dynamic)
        {
            var (gates, gatesName) = request.GatesFrom is { } path ? (GatesProfile(path, target), path) : (loaded.Profile, source.Name);
            (plan, var dropped) = DynamicGate.Attach(plan, gates, request.ProbeThreshold, gatesName);
            notes.AddRange(dropped.Select(n => (ErrorText)n));
        }
        if (plan.Operation == SteeringOperation.Scale
            && SignRule.NegativeFactor(plan.Provenance.Alpha, plan.Sites.SelectMany(s => s.Units).Select(u => u.Value).ToList()) is { } sign)
            warnings.Add(sign);

        if (target.IsSteered && request.Existing == ExistingSteering.Stack)
        {
            var (before, after) = (new GraphIndex(target.Unsteered.Graph), new GraphIndex(target.Model.Graph));
            return new PlannedSteering(target.Model, plan.MapSites(site => OnSteeredGraph(site, before, after)), warnings, notes);
        }
        return new PlannedSteering(target.Unsteered, plan, warnings, notes);
    }

    /// <summary>The refusal of a model that already carries steering, naming the two ways on.</summary>
    internal static InvalidInputException AlreadySteered(string source, SteeringStep last) =>
        new($"{source}: the model is already steered ({last.Method}, sites {string.Join(",", last.Sites)}); " +
            $"use {Param("replace")} to remove that steering first, or {Param("stack")} to add to it");

    /// <summary>
    /// What is wrong when <paramref name="profile"/> was recorded on another model than <paramref name="target"/>
    /// (the one fingerprint comparison), or null when it fits. Callers decide: refuse, or (with force) warn.
    /// </summary>
    internal static ErrorText? OtherModel(SteeringTarget target, SteeringProfile profile, string profileName)
    {
        if (string.Equals(target.Fingerprint, profile.ModelFingerprint, StringComparison.Ordinal)) return null;
        return $"{profileName}: recorded on another model (fingerprint {Short(profile.ModelFingerprint)}" +
               $"{(profile.ModelFile is null ? "" : $", {profile.ModelFile}")}; this model is {Short(target.Fingerprint)})";
    }

    private static SteeringPlan Build(LoadedProfile loaded, string profileName, SteeringTarget target, PatchRequest request,
        List<ErrorText> warnings, List<ErrorText> notes)
    {
        var forced = new HashSet<string>(StringComparer.Ordinal);
        void Mismatch(ErrorText what)
        {
            if (!request.Force) throw new InvalidProfileException($"{what}; use {Param("force")} to apply it anyway");
            if (forced.Add(what.ToString())) warnings.Add($"{what}; applied anyway ({Param("force")})");
        }
        var profile = loaded.Profile;
        if (OtherModel(target, profile, profileName) is { } other) Mismatch(other);

        var selected = request.Reselects && !loaded.StrengthApplied ? Reselect(profile, profileName, request, notes) : profile;
        var sites = target.Sites;

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
            var ps = selected.Site(siteId) ?? throw new InvalidProfileException($"{profileName}: unit on site '{siteId}', which the profile does not describe");
            var ms = sites.FirstOrDefault(x => x.Kind == ps.Kind && x.Layer == ps.Layer);
            if (ms is not null)
            {
                var problems = new List<string>();
                if (ms.Width != ps.Width) problems.Add($"width {ps.Width} in the profile, {ms.Width} in the model");
                var dtype = ProfileSite.DtypeName(ms.ElementType);
                if (!string.Equals(dtype, ps.Dtype, StringComparison.OrdinalIgnoreCase)) problems.Add($"dtype {ps.Dtype} in the profile, {dtype} in the model");
                if (problems.Count > 0)
                {
                    var what = $"{profileName}: site {siteId}: {string.Join(", ", problems)}";
                    // A width mismatch means the indices address other scalars: never applied, even with force.
                    if (ms.Width != ps.Width) throw new InvalidProfileException(what);
                    Mismatch(what);
                }
            }
            if (ps.Layer != layer) throw new InvalidProfileException($"{profileName}: unit on '{siteId}' says layer {layer}");
            return ps.Kind;
        }

        var provenance = new SteeringProvenance(selected.Method.ToName(),
            selected.Method == SteeringMethod.Caa ? null : selected.Selection.K, selected.Selection.Alpha, loaded.Sha256);
        if (selected.Method == SteeringMethod.Caa)
        {
            if (selected.Caa.Count == 0) throw new InvalidProfileException($"{profileName}: the caa profile holds no vectors; give {Param("alpha")} (and {Param("sites")}) to select them");
            return SteeringPlan.Add(sites, selected.Caa.Select(v => (KindOf(v.Site, v.Layer), v.Layer, v.Vector)).ToList(), provenance, profileName);
        }
        if (selected.Units.Count == 0) throw new InvalidProfileException($"{profileName}: the profile selects no units; give {Param("k")} and {Param("alpha")} to select them");
        return SteeringPlan.Scale(sites, selected.Units.Select(u => (KindOf(u.Site, u.Layer), u.Layer, u.Index, u.Gamma)).ToList(), provenance, profileName);
    }

    /// <summary>The profile re-selected with the request's k, alpha and sites (what it leaves null keeps the profile's choice).</summary>
    private static SteeringProfile Reselect(SteeringProfile profile, string profileName, PatchRequest request, List<ErrorText> notes)
    {
        if (profile.ControlVector is not null)
        {
            // An imported control vector has no statistics to re-select from: alpha re-scales its vectors.
            if (request.K is not null || request.Sites is not null)
                throw new InvalidProfileException($"{profileName}: an imported control vector has no statistics to re-select from; only {Param("alpha")} (its strength) applies");
            return ImportedVectors.Rescale(profile, request.Alpha!.Value, profileName);
        }
        if (profile.CountsOmitted)
            throw new ArgumentException("re-selection needs the profile's counts: load it with SteeringProfile.Load, not LoadSelection");
        var s = profile.Selection;
        var k = request.K ?? s.K;
        if (profile.Method != SteeringMethod.Caa && k < 1)
            throw new InvalidProfileException($"{profileName}: the profile stores no selection (k = 0); give {Param("k")} and {Param("alpha")}");
        var kinds = request.Sites ?? s.Sites;
        if (request.K is { } asked) notes.AddRange(UnitSelector.KBeyondUnits(profile, asked, kinds, s.RankJointly));
        return UnitSelector.Reselect(profile, k, request.Alpha ?? s.Alpha, request.Sites);
    }

    /// <summary>The profile of <see cref="PatchRequest.GatesFrom"/>: its probes must have been fitted on this model.</summary>
    private static SteeringProfile GatesProfile(string path, SteeringTarget target)
    {
        var gates = SteeringProfile.Load(path);
        if (gates.Probes is null)
            throw new InvalidProfileException($"{path}: the profile has no probes; profile with {Param("probes")} to fit them ({Param("gatesFrom")} needs them)");
        if (OtherModel(target, gates, path) is not null)
            throw new InvalidProfileException($"{path}: its probes were fitted on another model (the fingerprints differ); gates must read the activations of the model they steer");
        return gates;
    }

    /// <summary>
    /// A site found on the unsteered graph, re-addressed to the steered one: inserted nodes renamed the values at the
    /// projection's edge (input edge: the projection now reads the earlier Mul's output; output edge: the projection
    /// now writes a new name), so the new node goes on the edge as it is now.
    /// </summary>
    internal static SteeringSite OnSteeredGraph(SteeringSite site, GraphIndex clean, GraphIndex steered)
    {
        var edge = GraphPatcher.EdgeNode(site);
        var before = clean.Node(edge);
        var after = steered.Node(edge);
        if (before is null || after is null) return site;
        if (site.Kind == SiteKind.MlpOut)
        {
            var i = before.Output.IndexOf(site.ValueName);
            return i >= 0 && i < after.Output.Count ? site with { ValueName = after.Output[i] } : site;
        }
        var j = before.Input.IndexOf(site.ValueName);
        return j >= 0 && j < after.Input.Count ? site with { ValueName = after.Input[j] } : site;
    }

    private static string Short(string fingerprint) => fingerprint.Length > 19 ? fingerprint[..19] + "…" : fingerprint;
}
