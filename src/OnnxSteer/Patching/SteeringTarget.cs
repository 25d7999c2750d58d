using OnnxSteer.ModelFiles;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Patching;

/// <summary>
/// The model a plan is made for: as loaded (earlier steering included), without its earlier steering, its sites and
/// its fingerprint, each worked out once on first use, so one target serves many plans (a sweep steers the same model
/// at every setting). <see cref="Steer"/> is the patch in memory: <see cref="SteeringPlanner"/> plans,
/// <see cref="GraphPatcher"/> applies.
/// </summary>
internal sealed class SteeringTarget
{
    private readonly Lazy<OnnxModel> _unsteered;
    private readonly Lazy<IReadOnlyList<SteeringSite>> _sites;
    private readonly Lazy<string> _fingerprint;

    /// <summary>A target for <paramref name="model"/> (from <see cref="OnnxModel.Load"/>, or lean-loaded when nothing is
    /// folded); <paramref name="sites"/> replaces the sites found in it (tests of a plan for another model).</summary>
    public SteeringTarget(OnnxModel model, IReadOnlyList<SteeringSite>? sites = null)
    {
        Model = model;
        IsSteered = SteeringMetadata.IsSteered(model.Proto);
        // Resolved on first use: a steered model that is refused must fail on that, before anything else is read.
        _unsteered = new(() => IsSteered ? GraphUnpatcher.Remove(model) : model);
        _sites = new(() => sites ?? SiteFinder.Find(_unsteered.Value).Sites);
        _fingerprint = new(() => ModelFingerprint.Compute(_unsteered.Value, Sites));
    }

    /// <summary>
    /// A target for the model at <paramref name="model"/> (a .onnx file or its folder). With <paramref name="weights"/>
    /// false no weight is read (inline weights stay in the file: the writer copies them through), enough for every
    /// patch but a fold.
    /// </summary>
    public static SteeringTarget Load(string model, bool weights = true) =>
        new(weights ? OnnxModel.Load(model) : StreamingModelRewriter.LoadLean(model));

    /// <summary>The model as loaded.</summary>
    public OnnxModel Model { get; }

    /// <summary>The model's name in messages: its file, or "model".</summary>
    public string Name => Model.FilePath ?? "model";

    /// <summary>True when the model carries steering recorded by an earlier patch.</summary>
    public bool IsSteered { get; }

    /// <summary>The model without its earlier steering: profiles are recorded on (and fingerprinted against) this one.</summary>
    public OnnxModel Unsteered => _unsteered.Value;

    /// <summary>The steering sites of <see cref="Unsteered"/>.</summary>
    public IReadOnlyList<SteeringSite> Sites => _sites.Value;

    /// <summary>The <see cref="ModelFingerprint"/> of <see cref="Unsteered"/>.</summary>
    public string Fingerprint => _fingerprint.Value;

    /// <summary>
    /// Plans the profile of <paramref name="source"/> for this model and applies the plan, in memory;
    /// <paramref name="notice"/> hears every warning and note as it happens (the result keeps the warnings).
    /// </summary>
    public PatchedModel Steer(IProfileSource source, PatchRequest request, Action<ErrorText>? notice = null)
    {
        var planned = SteeringPlanner.Plan(this, source, request);
        foreach (var w in planned.Warnings) notice?.Invoke($"warning: {w}");
        foreach (var n in planned.Notes) notice?.Invoke($"note: {n}");
        var result = GraphPatcher.Apply(planned.Graph, planned.Plan, request.Options);
        foreach (var n in result.Notes) notice?.Invoke("note: " + n);
        return new PatchedModel(Model, result, planned.Plan, planned.Warnings);
    }
}
