using Microsoft.ML.OnnxRuntime;
using Google.Protobuf;
using OnnxSteer.Generation;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;

namespace OnnxSteer.Sweeping;

/// <summary>
/// Opens steered versions of one model without writing files: the profile's units are re-selected for a (k, alpha),
/// the graph is patched in memory (a Mul per steered site, exactly as <c>onnxsteer patch</c> without --fold), serialized,
/// and handed to ONNX Runtime as bytes whose external data is read from the original model's folder.
/// </summary>
internal sealed class InMemorySteering
{
    private readonly SteeringTarget _target;
    private readonly string _profileSha256;
    private readonly RuntimeSettings _runtime;

    /// <summary>The model file (resolved from a folder through genai_config.json, else model.onnx).</summary>
    public string ModelFile { get; }

    /// <summary>genai_config.json beside the model, when there is one.</summary>
    public GenaiConfigFile? Config { get; }

    /// <summary>The profile the units are selected from.</summary>
    public SteeringProfile Profile { get; }

    /// <summary>The profile file, for messages and provenance.</summary>
    public string ProfilePath { get; }

    /// <summary>Loads the unsteered model's graph (not its weights) and the profile; checks they belong together.</summary>
    /// <exception cref="OnnxSteerException">The model is already steered, or the profile holds no statistics or was
    /// recorded on another model.</exception>
    public InMemorySteering(string modelDirOrFile, string profilePath, RuntimeSettings? runtime = null)
    {
        (ModelFile, Config) = Resolve(modelDirOrFile);
        _runtime = runtime ?? RuntimeSettings.Default;
        _target = new SteeringTarget(OnnxModel.Load(ModelFile));
        if (_target.IsSteered)
            throw new InvalidModelException($"{ModelFile}: the model is already steered; sweep the original (unsteered) model");
        ProfilePath = profilePath;
        Profile = SteeringProfile.Load(profilePath);
        if (Profile.CountsOmitted || Profile.Counts.Count == 0 || Profile.Pairs < 1)
            throw new InvalidProfileException($"{profilePath}: the profile holds no statistics to select from (an imported control vector?); sweep a profile made by profiling pairs");
        _profileSha256 = ProfileFile.Sha256Of(profilePath);
        // Checked here, before the first (slow) evaluation, rather than at the first plan.
        if (SteeringPlanner.OtherModel(_target, Profile, profilePath) is { } other) throw new InvalidProfileException(other);
    }

    /// <summary>The site kinds a sweep selects from when none are given: the profile's stored selection, else every kind recorded.</summary>
    public IReadOnlyList<SiteKind> DefaultKinds =>
        Profile.Selection.Sites.Count > 0 ? Profile.Selection.Sites : Profile.Sites.Select(s => s.Kind).Distinct().Order().ToList();

    /// <summary>A copy of the profile with the units of (k, alpha) on <paramref name="kinds"/> selected (every other rule of the profile kept).</summary>
    public SteeringProfile Select(SweepSetting setting, IReadOnlyList<SiteKind> kinds)
    {
        if (setting.Method is not { } method) return UnitSelector.Reselect(Profile, setting.K, setting.Alpha, kinds);
        // Another method on the same statistics: the profile's other rules (joint ranking, seed, tie-break, direction) kept.
        var s = Profile.Selection;
        var layers = setting.Layers is { } l ? LayerSets.Layers(l) : null;
        return UnitSelector.Select(Profile, setting.K, setting.Alpha, kinds, s.RankJointly, method, s.Seed, layers, s.TieBreak, s.Direction);
    }

    /// <summary>How many scalars <paramref name="selected"/> steers: its units, or the entries of its caa vectors.</summary>
    public static int Scalars(SteeringProfile selected) =>
        selected.Method == SteeringMethod.Caa ? selected.Caa.Sum(v => v.Vector.Length) : selected.Units.Count;

    /// <summary>The steered graph of <paramref name="selected"/>, in memory (same as <c>patch</c> without --fold writes).</summary>
    public OnnxModel Patch(SteeringProfile selected) =>
        _target.Steer(new InMemoryProfile(selected, _profileSha256, ProfilePath), PatchRequest.Default).Model;

    /// <summary>Opens the steered model of <paramref name="selected"/> from bytes; the caller disposes it.</summary>
    public DecoderModel Open(SteeringProfile selected)
    {
        var bytes = Patch(selected).Proto.ToByteArray();
        var source = $"{ModelFile} (steered in memory: {selected.Method.ToName()} k {selected.Selection.K}, alpha {selected.Selection.Alpha})";
        var session = _runtime.OpenSession(bytes, _target.Model.BaseDirectory, out var device, source);
        try
        {
            return new DecoderModel(session, DecoderLayout.Detect(session, Config, source), Config, ownsSession: true, ModelFile, device, _runtime.DeviceId);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>Opens the unsteered model from its file; the caller disposes it.</summary>
    public DecoderModel OpenVanilla() => DecoderModel.Open(ModelFile, _runtime);

    private static (string File, GenaiConfigFile? Config) Resolve(string modelDirOrFile)
    {
        var location = ModelLocator.Locate(modelDirOrFile);
        return (location.File, location.Config);
    }
}
