using OnnxSteer.Interop;
using OnnxSteer.Pairs;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Profiling;
using OnnxSteer.Recording;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;

namespace OnnxSteer;

/// <summary>How <see cref="Steerer.Profile"/> records and selects.</summary>
public sealed record ProfileSettings
{
    /// <summary>Units kept per site kind.</summary>
    public int K { get; init; } = 10;
    /// <summary>Global strength: gamma = alpha·r for each kept unit.</summary>
    public double Alpha { get; init; } = 10;
    /// <summary>Site kinds to select from (all are recorded, so <see cref="Steerer.Select"/> can pick others later).</summary>
    public IReadOnlyList<SiteKind> Sites { get; init; } = [SiteKind.Attn];
    /// <summary>Selection method.</summary>
    public SteeringMethod Method { get; init; } = SteeringMethod.AuSteer;
    /// <summary>Sequences per model run (a pair is two).</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>How ONNX Runtime runs the model.</summary>
    public RuntimeSettings Runtime { get; init; } = RuntimeSettings.Default;
}

/// <summary>How <see cref="Steerer.Patch(string, SteeringProfile, string, PatchSettings?)"/> writes the steered model.</summary>
public sealed record PatchSettings
{
    /// <summary>Fold the factors into the projection weights (no extra op) where that is exact.</summary>
    public bool Fold { get; init; }
    /// <summary>Let hosts change the strength per run (an <c>onnxsteer.strength</c> input).</summary>
    public bool Switchable { get; init; }
    /// <summary>Accept a profile recorded on another model or element type.</summary>
    public bool Force { get; init; }
}

/// <summary>
/// The front door of the library: the whole job in two calls. <see cref="Profile"/> runs contrastive pairs through a
/// model and returns a profile with its units selected; <see cref="Patch(string, SteeringProfile, string, PatchSettings?)"/>
/// writes the steered model. <see cref="Select"/> re-selects without running the model; <see cref="Save"/> and
/// <see cref="Load"/> keep a profile on disk. Errors are <see cref="OnnxSteerException"/>s naming the file and the problem.
/// </summary>
public static class Steerer
{
    /// <summary>Profiles <paramref name="model"/> (a .onnx file or its folder) on <paramref name="pairs"/>.</summary>
    public static SteeringProfile Profile(string model, IEnumerable<ContrastivePair> pairs, ProfileSettings? settings = null,
        CancellationToken cancel = default)
    {
        settings ??= new ProfileSettings();
        var list = pairs.Select((p, i) => p.Origin.Length > 0 ? p : p with { Origin = $"pair {i + 1}" }).ToList();
        var request = new ProfileRequest
        {
            ModelPath = model, Pairs = new PairSet(list, 0, $"{list.Count} pairs given in code", []),
            Method = settings.Method, SiteKinds = settings.Sites, K = settings.K, Alpha = settings.Alpha,
            BatchSize = settings.BatchSize, Runtime = settings.Runtime,
        };
        return ProfileRunner.Run(request, null, cancel);
    }

    /// <summary>The same profile with its units selected anew (no model run).</summary>
    public static SteeringProfile Select(SteeringProfile profile, int k, double alpha, IReadOnlyCollection<SiteKind>? sites = null) =>
        UnitSelector.Reselect(profile, k, alpha, sites);

    /// <summary>Writes <paramref name="profile"/> to <paramref name="path"/> (atomically).</summary>
    public static void Save(SteeringProfile profile, string path) => ProfileJson.Save(profile, path);

    /// <summary>Reads and checks a profile file.</summary>
    public static SteeringProfile Load(string path) => ProfileJson.Load(path);

    /// <summary>Writes <paramref name="model"/> steered by <paramref name="profile"/> to <paramref name="output"/> (a folder or a .onnx path).</summary>
    public static PatchOutcome Patch(string model, SteeringProfile profile, string output, PatchSettings? settings = null) =>
        Patch(model, "(profile in memory)", output, settings, new InMemoryProfile(profile));

    /// <summary>Writes <paramref name="model"/> steered by the profile (or GGUF control vector) at <paramref name="profilePath"/>.</summary>
    public static PatchOutcome Patch(string model, string profilePath, string output, PatchSettings? settings = null) =>
        Patch(model, profilePath, output, settings, ControlVectorSource.For(profilePath));

    private static PatchOutcome Patch(string model, string profileName, string output, PatchSettings? settings, IProfileSource? source)
    {
        settings ??= new PatchSettings();
        var options = new PatchOptions(settings.Fold, ExistingSteering.Refuse, settings.Switchable);
        return ModelPatcher.Patch(new PatchJob(model, profileName, output, new PlanRequest(Force: settings.Force), options, source));
    }
}
