using Microsoft.ML.OnnxRuntime;
using OnnxSteer.Evaluation;
using OnnxSteer.HostFormats;
using OnnxSteer.ModelFiles;
using OnnxSteer.Pairs;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.ProfileRuns;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;
using OnnxSteer.Sweeping;

namespace OnnxSteer;

/// <summary>
/// The front door of the library: the whole job in two calls. <see cref="Profile(string, IEnumerable{ContrastivePair}, ProfileSettings?, CancellationToken)"/>
/// runs contrastive pairs through a model and returns a profile with its units selected;
/// <see cref="Patch(string, SteeringProfile, string, PatchSettings?)"/> writes the steered model, and
/// <see cref="Steer(string, SteeringProfile, PatchSettings?)"/> returns it in memory. <see cref="Select(SteeringProfile, SelectionSettings, SteeringMethod?)"/>
/// re-selects without running the model, <see cref="Merge"/> adds up profiles of disjoint pairs, <see cref="Unpatch"/>
/// restores the unsteered model; <see cref="Save"/> and <see cref="Load"/> keep a profile on disk;
/// <see cref="CheckDirection"/> tells whether a selection moves held-out pairs the intended way;
/// <see cref="CompareMethods"/> tells which method to use (AUSteer, CAA, actdiff, random) on a task, honestly. Errors are
/// <see cref="OnnxSteerException"/>s naming the file and the problem.
/// </summary>
public static class Steerer
{
    /// <summary>Profiles <paramref name="model"/> (a .onnx file or its folder) on <paramref name="pairs"/>.</summary>
    public static SteeringProfile Profile(string model, IEnumerable<ContrastivePair> pairs, ProfileSettings? settings = null,
        CancellationToken cancel = default)
    {
        var list = pairs.Select((p, i) => p.Origin.Length > 0 ? p : p with { Origin = $"pair {i + 1}" }).ToList();
        return Profile(model, new PairSet(list, 0, $"{list.Count} pairs given in code", []), settings, null, cancel);
    }

    /// <summary>
    /// Profiles <paramref name="model"/> on a pair set read from a file or a task (<see cref="PairsJsonl.Read"/>,
    /// <see cref="TaskPairs.Build"/>: its description and bad-record count go into the profile); <paramref name="progress"/>
    /// hears after every batch. Cancellation is checked between batches and ends in a <see cref="ProfileInterruptedException"/>
    /// saying how far the run got and what its checkpoint (<see cref="ProfileSettings.Checkpoint"/>) kept.
    /// </summary>
    public static SteeringProfile Profile(string model, PairSet pairs, ProfileSettings? settings, IProgress<ProfileProgress>? progress,
        CancellationToken cancel = default)
    {
        var request = new ProfileRequest { ModelPath = model, Pairs = pairs, Settings = settings ?? new ProfileSettings() };
        return ProfileRunner.Run(request, progress, cancel);
    }

    /// <summary>The same profile with its units selected anew (no model run), keeping the profile's other rules.</summary>
    public static SteeringProfile Select(SteeringProfile profile, int k, double alpha, IReadOnlyCollection<SiteKind>? sites = null) =>
        UnitSelector.Reselect(profile, k, alpha, sites);

    /// <summary>
    /// The same profile with its units selected anew (no model run) by <paramref name="selection"/>, e.g.
    /// <c>profile.Selection with { K = 2, Alpha = 5 }</c>, and <paramref name="method"/> (null = the profile's). The
    /// units and gammas are derived from the counts and the selection, never carried over.
    /// </summary>
    public static SteeringProfile Select(SteeringProfile profile, SelectionSettings selection, SteeringMethod? method = null)
    {
        var kinds = selection.Sites.Count > 0 ? selection.Sites : profile.Sites.Select(s => s.Kind).Distinct().ToList();
        return UnitSelector.Select(profile, selection.K, selection.Alpha, kinds, selection.RankJointly, method ?? profile.Method,
            selection.Seed, selection.Layers, selection.TieBreak, selection.Direction);
    }

    /// <summary>
    /// Adds up the exact counts of the profiles at <paramref name="paths"/> (one model, disjoint pairs, e.g. shards) and
    /// re-selects with the first one's settings; <paramref name="notice"/> hears when probes had to be dropped.
    /// </summary>
    public static SteeringProfile Merge(IEnumerable<string> paths, Action<WarningText>? notice = null)
    {
        var loaded = paths.Select(p => (SteeringProfile.Load(p), p)).ToList();
        var merged = ProfileMerger.Merge(loaded);
        if (ProfileMerger.ProbesDroppedNote(loaded) is { } note) notice?.Invoke($"warning: {note}");
        return merged;
    }

    /// <summary>Writes <paramref name="profile"/> to <paramref name="path"/> (atomically).</summary>
    public static void Save(SteeringProfile profile, string path) => ProfileJson.Save(profile, path);

    /// <summary>Reads and checks a profile file.</summary>
    public static SteeringProfile Load(string path) => ProfileJson.Load(path);

    /// <summary>Writes <paramref name="model"/> steered by <paramref name="profile"/> to <paramref name="output"/> (a folder or a .onnx path).</summary>
    public static PatchOutcome Patch(string model, SteeringProfile profile, string output, PatchSettings? settings = null) =>
        Patch(model, new InMemoryProfile(profile), output, settings);

    /// <summary>Writes <paramref name="model"/> steered by the profile (or GGUF control vector) at <paramref name="profilePath"/>.</summary>
    public static PatchOutcome Patch(string model, string profilePath, string output, PatchSettings? settings = null) =>
        Patch(model, SourceOf(profilePath), output, settings);

    /// <summary>
    /// <paramref name="model"/> steered by <paramref name="profile"/>, in memory: nothing is written. Serialize
    /// <see cref="OpenSession"/> runs it in ONNX Runtime (external data is read from the model's folder);
    /// <see cref="PatchedModel.Write"/> writes it later.
    /// </summary>
    public static PatchedModel Steer(string model, SteeringProfile profile, PatchSettings? settings = null) =>
        Steer(model, new InMemoryProfile(profile), settings);

    /// <summary><paramref name="model"/> steered by the profile (or GGUF control vector) at <paramref name="profilePath"/>, in memory.</summary>
    public static PatchedModel Steer(string model, string profilePath, PatchSettings? settings = null) =>
        Steer(model, SourceOf(profilePath), settings);

    /// <summary>An ONNX Runtime session on a model steered in memory, with <paramref name="runtime"/>'s device and threads
    /// (external data is read from <see cref="PatchedModel.ExternalDataFolder"/>).</summary>
    /// <exception cref="OrtException">ONNX Runtime cannot open the model; the message is the runtime's.</exception>
    /// <exception cref="RuntimeUnavailableException">ONNX Runtime (or the device's provider) cannot be loaded.</exception>
    public static InferenceSession OpenSession(PatchedModel steered, RuntimeSettings? runtime = null) =>
        (runtime ?? RuntimeSettings.Default).OpenSession(steered.ToBytes(), steered.ExternalDataFolder);

    /// <summary>
    /// Removes every steering step recorded in <paramref name="steered"/> and writes the unsteered model to
    /// <paramref name="output"/> (a folder or a .onnx path); returns the files written and the steps removed.
    /// </summary>
    public static UnpatchOutcome Unpatch(string steered, string output, Action<WarningText>? notice = null)
    {
        var (written, removed) = UnpatchWithRecord(steered, output, notice);
        return new UnpatchOutcome(written, [.. removed.Select(s => new AppliedSteering(s, s.Edits.Sum(e => e.Units)))]);
    }

    /// <summary>As <see cref="Unpatch"/>, with the steps as recorded (tests read their edits).</summary>
    internal static (WriteResult Written, IReadOnlyList<SteeringStep> Removed) UnpatchWithRecord(string steered, string output, Action<WarningText>? notice = null)
    {
        var model = OnnxModel.Load(steered);
        var steps = SteeringMetadata.Read(model.Proto, model.FilePath!);
        var written = SteeredModelWriter.Write(model, GraphUnpatcher.Remove(model), [], output, notice);
        return (written, steps);
    }

    /// <summary>
    /// Which method to use: the profile at <paramref name="profilePath"/> (its statistics; any method's profile of pairs)
    /// re-selected by every method of <paramref name="settings"/> over its own grid, each setting steered in memory and
    /// evaluated on the validation slice with its fluency cost, each method's best chosen on validation only, then each
    /// of those and <paramref name="model"/> unsteered evaluated once on the disjoint test slice and paired item by item.
    /// Cancellation stops at the next item (<see cref="MethodComparison.Interrupted"/>).
    /// </summary>
    public static MethodComparison CompareMethods(string model, string profilePath, CompareSettings settings, CancellationToken cancel = default)
    {
        var task = BenchmarkTasks.Parse(settings.Task);
        var request = new SweepRequest
        {
            ModelPath = model, ProfilePath = profilePath, Task = task, DataPath = settings.Data,
            Ks = settings.Ks.Distinct().Order().ToList(), Alphas = settings.Alphas.Distinct().Order().ToList(),
            Methods = settings.Methods, CaaAlphas = settings.CaaAlphas, CaaLayers = settings.Layers, Sites = settings.Sites,
            Validation = settings.Validation, Test = settings.Test, Offset = settings.Offset,
            Mode = settings.Generate ? Evaluation.EvalMode.Generate : Evaluation.EvalMode.Loglik, MaxFluencyDrop = settings.MaxFluencyDrop,
            FluencyTexts = settings.FluencyTexts ?? Evaluation.NeutralTexts.Default,
            FluencySource = settings.FluencyTexts is null ? Evaluation.NeutralTexts.DefaultName : $"{settings.FluencyTexts.Count} texts given in code",
            TokenizerPath = settings.Tokenizer, Runtime = settings.Runtime ?? RuntimeSettings.Default,
        };
        return new MethodComparison(MethodSweepRunner.Run(request, cancel: cancel));
    }

    /// <summary>
    /// Whether <paramref name="profile"/>'s selection moves <paramref name="model"/> the intended way: the model is
    /// steered in memory (nothing is written) and each held-out pair's margin, log p(positive) − log p(negative) after
    /// its prompt, is scored with and without the steering. A shift ≤ 0 (<see cref="DirectionCheckResult.Describe"/>
    /// says what to try) means the units push the other way or not at all.
    /// </summary>
    /// <param name="model">The unsteered model (.onnx file or its folder) the profile was made on.</param>
    /// <param name="profile">The profile, with the selection to check (see <see cref="Select(SteeringProfile, int, double, IReadOnlyCollection{SiteKind}?)"/>).</param>
    /// <param name="heldOutPairs">Pairs the profile was not built on.</param>
    /// <param name="runtime">ONNX Runtime settings; null: the defaults.</param>
    /// <param name="tokenizer">tokenizer.json or its folder; null: the model's folder.</param>
    /// <exception cref="InvalidInputException">No pairs.</exception>
    /// <exception cref="InvalidProfileException">The profile does not fit the model.</exception>
    public static DirectionCheckResult CheckDirection(string model, SteeringProfile profile, IEnumerable<ContrastivePair> heldOutPairs,
        RuntimeSettings? runtime = null, string? tokenizer = null) =>
        DirectionCheck.Run(model, profile, heldOutPairs.ToList(), runtime, tokenizer);

    /// <summary>A profile file, or a GGUF control vector converted for the model being patched.</summary>
    private static IProfileSource SourceOf(string profilePath) => ControlVectorSource.For(profilePath) ?? new ProfileFile(profilePath);

    // The patch path: the settings checked once (PatchRequest), the model loaded, planned (SteeringPlanner: the plan and
    // every warning) and applied (GraphPatcher) by SteeringTarget.Steer; Patch then writes.
    private static PatchOutcome Patch(string model, IProfileSource source, string output, PatchSettings? settings)
    {
        var request = settings?.Request ?? PatchRequest.Default;
        var steered = SteeringTarget.Load(model, weights: request.Options.Fold).Steer(source, request, settings?.Notice);
        return new PatchOutcome(steered.Write(output, settings?.Notice), steered);
    }

    private static PatchedModel Steer(string model, IProfileSource source, PatchSettings? settings)
    {
        var request = settings?.Request ?? PatchRequest.Default;
        return SteeringTarget.Load(model).Steer(source, request, settings?.Notice);
    }
}
