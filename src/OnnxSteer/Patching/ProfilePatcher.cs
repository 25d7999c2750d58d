using Google.Protobuf;
using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.ModelFiles;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Patching;

/// <summary>
/// A model patched in memory, as the front door's <c>Steer</c> returns it: serialize it with <see cref="ToBytes"/> for a
/// runtime (its external data stays in <see cref="ExternalDataFolder"/>), or put it on disk with <see cref="Write"/>.
/// </summary>
public sealed class PatchedModel
{
    internal PatchedModel(OnnxModel source, PatchResult patch, SteeringPlan plan, IReadOnlyList<ErrorText> warnings)
    {
        Source = source;
        Patch = patch;
        Plan = plan;
        Warnings = warnings;
    }

    /// <summary>The model as loaded (steering of earlier patches included): the writer carries its files.</summary>
    internal OnnxModel Source { get; }

    /// <summary>The rewritten graph, the step it records, the folded tensors and the patcher's notes.</summary>
    internal PatchResult Patch { get; }

    /// <summary>The plan that was applied.</summary>
    internal SteeringPlan Plan { get; }

    /// <summary>What the profile's checks let through (e.g. a forced mismatch); <c>ToString()</c> words one.</summary>
    public IReadOnlyList<ErrorText> Warnings { get; }

    /// <summary>The steered model; its external data is read from <see cref="Source"/>'s folder.</summary>
    internal OnnxModel Model => Patch.Model;

    /// <summary>The folder the model's external data (weights) is read from, or null when it has none.</summary>
    public string? ExternalDataFolder => Model.BaseDirectory;

    /// <summary>The steered model's protobuf bytes (the graph; weights in external data stay in <see cref="ExternalDataFolder"/>).</summary>
    public byte[] ToBytes() => Model.Proto.ToByteArray();

    /// <summary>Writes the steered model to <paramref name="output"/> (a folder or a .onnx path), atomically.</summary>
    public WriteResult Write(string output, Action<ErrorText>? notice = null) =>
        SteeredModelWriter.Write(Source, Patch.Model, Patch.FoldedTensors, output, notice);
}

/// <summary>
/// The patch chain, in one place: a loaded model and a profile source in, the patched model in memory out. Earlier
/// steering is resolved by <see cref="PatchOptions.Existing"/> (refused, removed, or stacked on), the profile is read
/// for the unsteered model and its sites, planned, optionally gated (dynamic), and applied. Nothing is written:
/// <see cref="PatchedModel.Write"/> is the separate step. One instance can apply many profiles to the same model.
/// </summary>
internal sealed class ProfilePatcher
{
    private readonly Lazy<OnnxModel> _unsteered;
    private readonly Lazy<IReadOnlyList<SteeringSite>> _sites;

    /// <summary>Patches <paramref name="model"/> (from <see cref="OnnxModel.Load"/>, or lean-loaded when nothing is folded).</summary>
    public ProfilePatcher(OnnxModel model)
    {
        Model = model;
        IsSteered = SteeringMetadata.IsSteered(model.Proto);
        // Resolved on first use: a steered model that is refused must fail on that, before anything else is read.
        _unsteered = new(() => IsSteered ? GraphUnpatcher.Remove(model) : model);
        _sites = new(() => SiteFinder.Find(_unsteered.Value).Sites);
    }

    /// <summary>The model as loaded.</summary>
    public OnnxModel Model { get; }

    /// <summary>True when the model carries steering recorded by an earlier patch.</summary>
    public bool IsSteered { get; }

    /// <summary>The model without its earlier steering: profiles are recorded on (and fingerprinted against) this one.</summary>
    public OnnxModel Unsteered => _unsteered.Value;

    /// <summary>The steering sites of <see cref="Unsteered"/>.</summary>
    public IReadOnlyList<SteeringSite> Sites => _sites.Value;

    /// <summary>
    /// Applies the profile of <paramref name="source"/> (named <paramref name="profileName"/> in messages);
    /// <paramref name="notice"/> receives warnings and notes for the user as they happen.
    /// </summary>
    public PatchedModel Apply(IProfileSource source, string profileName, PlanRequest request, PatchOptions options, Action<ErrorText>? notice = null)
    {
        if (IsSteered && options.Existing == ExistingSteering.Refuse)
        {
            var file = Model.FilePath ?? "model";
            throw GraphPatcher.AlreadySteered(file, SteeringMetadata.Read(Model.Proto, file)[^1]);
        }

        var clean = Unsteered;
        var sites = Sites;
        var (profile, planRequest, loadWarnings, sha) = source.Load(clean, sites, request);
        var (plan, planWarnings) = ProfilePlanner.Build(profile, profileName, sha, clean, sites, planRequest);
        var warnings = loadWarnings.Concat(planWarnings).ToList();
        foreach (var w in warnings) notice?.Invoke($"warning: {w}");
        if (options.Dynamic)
        {
            var (gates, gatesName) = options.GatesFrom is { } path ? (GatesProfile(path, clean, sites, options), path) : (profile, profileName);
            (plan, var dropped) = DynamicGate.Attach(plan, gates, options.ProbeThreshold, gatesName);
            foreach (var n in dropped) notice?.Invoke("note: " + n);
        }

        OnnxModel target;
        if (IsSteered && options.Existing == ExistingSteering.Stack)
        {
            target = Model;
            var (before, after) = (new GraphIndex(clean.Graph), new GraphIndex(Model.Graph));
            plan = plan.MapSites(site => OnSteeredGraph(site, before, after));
        }
        else
        {
            target = clean;
            options = options with { Existing = ExistingSteering.Refuse };
        }
        var result = GraphPatcher.Apply(target, plan, options);
        foreach (var n in result.Notes) notice?.Invoke("note: " + n);
        return new PatchedModel(Model, result, plan, warnings);
    }

    /// <summary>The profile of <see cref="PatchOptions.GatesFrom"/>: its probes must have been fitted on this model.</summary>
    private static SteeringProfile GatesProfile(string path, OnnxModel clean, IReadOnlyList<SteeringSite> sites, PatchOptions options)
    {
        var gates = SteeringProfile.Load(path);
        if (gates.Probes is null)
            throw new InvalidProfileException($"{path}: the profile has no probes; profile with {Param("probes")} to fit them ({Param("gatesFrom")} needs them)");
        if (gates.ModelFingerprint != ModelFingerprint.Compute(clean, sites))
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
}
