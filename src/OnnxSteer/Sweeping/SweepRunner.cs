using OnnxSteer.Evaluation;
using OnnxSteer.Generation;
using OnnxSteer.Pairs;
using OnnxSteer.Profiles;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Sweeping;

/// <summary>What to sweep.</summary>
public sealed record SweepRequest
{
    /// <summary>The unsteered model (folder or .onnx file).</summary>
    public required string ModelPath { get; init; }
    /// <summary>The profile whose counts units are re-selected from.</summary>
    public required string ProfilePath { get; init; }
    /// <summary>The task (templates and choices).</summary>
    public required BenchmarkTask Task { get; init; }
    /// <summary>The task's data file.</summary>
    public required string DataPath { get; init; }
    /// <summary>k values (units per site kind).</summary>
    public required IReadOnlyList<int> Ks { get; init; }
    /// <summary>alpha values.</summary>
    public required IReadOnlyList<double> Alphas { get; init; }
    /// <summary>Site kinds to select from; null = the profile's stored selection (else every kind recorded).</summary>
    public IReadOnlyList<SiteKind>? Sites { get; init; }
    /// <summary>Validation items.</summary>
    public required int Validation { get; init; }
    /// <summary>Test items; null = the rest of the file (see <see cref="SweepSlices.Plan"/>).</summary>
    public int? Test { get; init; }
    /// <summary>First record of the validation slice; null = chosen to avoid the profile's pairs.</summary>
    public int? Offset { get; init; }
    /// <summary>How items are answered.</summary>
    public EvalMode Mode { get; init; } = EvalMode.Loglik;
    /// <summary>
    /// Fluency guard for the choice: settings whose mean log-likelihood per token falls more than this many nats below the
    /// vanilla model's are not chosen (null = fluency is reported only).
    /// </summary>
    public double? MaxFluencyDrop { get; init; }
    /// <summary>Neutral texts for the fluency guard.</summary>
    public IReadOnlyList<string> FluencyTexts { get; init; } = NeutralTexts.Default;
    /// <summary>Where the fluency texts came from, for reports.</summary>
    public string FluencySource { get; init; } = NeutralTexts.DefaultName;
    /// <summary>tokenizer.json or its folder; null = the model's folder.</summary>
    public string? TokenizerPath { get; init; }
    /// <summary>How to run ONNX Runtime.</summary>
    public RuntimeSettings Runtime { get; init; } = RuntimeSettings.Default;
}

/// <summary>One setting's validation outcome.</summary>
/// <param name="Setting">k and alpha.</param>
/// <param name="Units">Units actually steered (fewer than k per kind only when a kind has fewer units).</param>
/// <param name="Validation">Accuracy on the validation slice.</param>
/// <param name="Fluency">Mean token log-likelihood of the neutral texts under this setting.</param>
public sealed record SettingResult(SweepSetting Setting, int Units, EvalResult Validation, FluencyResult Fluency);

/// <summary>The chosen setting and the vanilla model on the test slice, paired item by item.</summary>
public sealed record SweepTest(EvalResult Steered, EvalResult Vanilla, EvalComparison Comparison, FluencyResult SteeredFluency);

/// <summary>Progress: units of work are items evaluated and fluency texts scored.</summary>
/// <param name="Stage">What is running, e.g. "validation k 4, alpha 20".</param>
/// <param name="Done">Units done over the whole sweep.</param>
/// <param name="Total">Units in the whole sweep.</param>
public readonly record struct SweepProgress(string Stage, int Done, int Total);

/// <summary>Everything a sweep found; complete, or cut short by cancellation (<see cref="Interrupted"/>).</summary>
public sealed record SweepResult
{
    /// <summary>The request.</summary>
    public required SweepRequest Request { get; init; }
    /// <summary>The model file swept.</summary>
    public required string ModelFile { get; init; }
    /// <summary>Site kinds units were selected from.</summary>
    public required IReadOnlyList<SiteKind> Sites { get; init; }
    /// <summary>The slices and what was checked.</summary>
    public required SweepSlices Slices { get; init; }
    /// <summary>Ids of the validation items, in order.</summary>
    public required IReadOnlyList<string> ValidationIds { get; init; }
    /// <summary>Ids of the test items, in order.</summary>
    public required IReadOnlyList<string> TestIds { get; init; }
    /// <summary>The unsteered model on the validation slice (for reference; never used to choose).</summary>
    public EvalResult? VanillaValidation { get; init; }
    /// <summary>The unsteered model's fluency.</summary>
    public FluencyResult? VanillaFluency { get; init; }
    /// <summary>Finished settings, in grid order (k, then alpha, ascending).</summary>
    public required IReadOnlyList<SettingResult> Settings { get; init; }
    /// <summary>The best setting on validation (see <see cref="SettingChooser"/>); null when interrupted before the end of the grid, or when no setting passed the fluency guard.</summary>
    public SettingResult? Chosen { get; init; }
    /// <summary>The profile with the chosen setting's selection.</summary>
    public SteeringProfile? ChosenProfile { get; init; }
    /// <summary>The test-slice evaluation of the chosen setting and the vanilla model; null when not reached.</summary>
    public SweepTest? Test { get; init; }
    /// <summary>Stopped early by cancellation.</summary>
    public bool Interrupted { get; init; }
}

/// <summary>Chooses the best setting on validation only.</summary>
public static class SettingChooser
{
    /// <summary>The rule, for reports.</summary>
    public const string TieRule = "highest validation accuracy; ties go to the smaller k, then the smaller alpha (the smaller intervention)";

    /// <summary>
    /// The setting with the most validation items right; ties to the smaller k, then the smaller alpha. With
    /// <paramref name="maxFluencyDrop"/>, only settings whose fluency is at most that far below <paramref name="vanilla"/>'s
    /// are candidates. Null when there is none.
    /// </summary>
    public static SettingResult? Choose(IReadOnlyList<SettingResult> settings, FluencyResult? vanilla = null, double? maxFluencyDrop = null) =>
        settings.Where(s => Eligible(s, vanilla, maxFluencyDrop))
            .OrderByDescending(s => s.Validation.Accuracy).ThenBy(s => s.Setting.K).ThenBy(s => s.Setting.Alpha).FirstOrDefault();

    /// <summary>True when <paramref name="setting"/> passes the fluency guard (always, without one).</summary>
    public static bool Eligible(SettingResult setting, FluencyResult? vanilla, double? maxFluencyDrop) =>
        maxFluencyDrop is not { } d || vanilla is null || vanilla.MeanLogLikelihood - setting.Fluency.MeanLogLikelihood <= d;
}

/// <summary>
/// The sweep: for every (k, alpha), re-select units from the profile's counts, patch in memory, evaluate on the
/// validation slice and score the fluency texts; choose the best on validation only; then evaluate that one setting and
/// the vanilla model once on the test slice and pair them (McNemar).
/// </summary>
public static class SweepRunner
{
    /// <summary>
    /// Runs the sweep. <paramref name="checkpoint"/> sees a result after every finished setting (so a caller can keep
    /// sweep.json current); cancellation stops at the next item and returns what finished, marked interrupted.
    /// </summary>
    public static SweepResult Run(SweepRequest request, IProgress<SweepProgress>? progress = null, Action<SweepResult>? checkpoint = null,
        CancellationToken cancel = default)
    {
        if (request.Ks.Count == 0 || request.Alphas.Count == 0) throw new OnnxSteerException("the sweep grid is empty: give --k and --alpha lists", ExitCodes.Usage);
        if (request.MaxFluencyDrop is { } drop && !(drop >= 0 && double.IsFinite(drop)))
            throw new OnnxSteerException($"--max-fluency-drop {drop}: must be a finite number ≥ 0 (nats per token)", ExitCodes.Usage);
        if (request.Task == BenchmarkTask.Pairs && request.Mode == EvalMode.Generate)
            throw new OnnxSteerException("--task pairs is scored by log-likelihood only: use --mode loglik", ExitCodes.Usage);
        var steering = new InMemorySteering(request.ModelPath, request.ProfilePath, request.Runtime);
        var kinds = request.Sites ?? steering.DefaultKinds;
        var slices = SweepSlices.Plan(steering.Profile, request.DataPath, request.Offset, request.Validation, request.Test);
        var validation = EvalItems.Load(request.Task, request.DataPath, slices.Validation.Offset, slices.Validation.Count);
        if (validation.Count < request.Validation)
            throw new OnnxSteerException($"{request.DataPath}: only {validation.Count} records from record {slices.Validation.Offset}, fewer than --val {request.Validation}", ExitCodes.InvalidInput);
        var test = EvalItems.Load(request.Task, request.DataPath, slices.Test.Offset, slices.Test.Count);
        if (test.Count == 0)
            throw new OnnxSteerException($"{request.DataPath}: no records left for the test slice after record {slices.Test.Offset}", ExitCodes.InvalidInput);
        var tokenizer = TokenizerLoader.Load(request.TokenizerPath ?? Path.GetDirectoryName(Path.GetFullPath(steering.ModelFile))!);
        var grid = SweepGrid.Settings(request.Ks, request.Alphas);
        // Validate the selection once up front (unknown site kinds, empty profile) before any model runs.
        steering.Select(grid[0], kinds);

        var fluencyCount = request.FluencyTexts.Count;
        var total = (grid.Count + 1) * (validation.Count + fluencyCount) + 2 * test.Count + fluencyCount;
        var done = 0;
        void Step(string stage) => progress?.Report(new SweepProgress(stage, ++done, total));

        var result = new SweepResult
        {
            Request = request, ModelFile = steering.ModelFile, Sites = kinds, Slices = slices,
            ValidationIds = validation.Select(i => i.Id).ToList(), TestIds = test.Select(i => i.Id).ToList(), Settings = [],
        };
        var settings = new List<SettingResult>();

        using (var vanilla = steering.OpenVanilla())
        {
            var evaluator = new Evaluator(vanilla, tokenizer);
            var val = evaluator.Run(request.Task, request.Mode, validation, _ => Step("validation, vanilla"), cancel);
            if (val.Interrupted) return result with { Interrupted = true };
            var fluency = TryFluency(vanilla, tokenizer, request.FluencyTexts, () => Step("fluency, vanilla"), cancel);
            if (fluency is null) return result with { Interrupted = true };
            result = result with { VanillaValidation = val, VanillaFluency = fluency };
        }

        foreach (var setting in grid)
        {
            var selected = steering.Select(setting, kinds);
            using var steered = steering.Open(selected);
            var stage = $"validation, {setting}";
            var val = new Evaluator(steered, tokenizer).Run(request.Task, request.Mode, validation, _ => Step(stage), cancel);
            if (val.Interrupted) return result with { Settings = settings.ToList(), Interrupted = true };
            var fluency = TryFluency(steered, tokenizer, request.FluencyTexts, () => Step($"fluency, {setting}"), cancel);
            if (fluency is null) return result with { Settings = settings.ToList(), Interrupted = true };
            settings.Add(new SettingResult(setting, selected.Units.Count, val, fluency));
            result = result with { Settings = settings.ToList() };
            checkpoint?.Invoke(result);
        }

        var chosen = SettingChooser.Choose(settings, result.VanillaFluency, request.MaxFluencyDrop);
        // Every setting broke fluency beyond the guard: nothing is chosen, so nothing is tested.
        if (chosen is null) return result;
        var chosenProfile = steering.Select(chosen.Setting, kinds);
        result = result with { Chosen = chosen, ChosenProfile = chosenProfile };

        EvalResult steeredTest;
        FluencyResult? steeredFluency;
        using (var steered = steering.Open(chosenProfile))
        {
            steeredTest = new Evaluator(steered, tokenizer).Run(request.Task, request.Mode, test, _ => Step($"test, {chosen.Setting}"), cancel);
            // The chosen setting's fluency again, from the model the test ran on: it must equal the validation-time value.
            steeredFluency = steeredTest.Interrupted ? null : TryFluency(steered, tokenizer, request.FluencyTexts, () => Step("fluency, chosen"), cancel);
        }
        if (steeredTest.Interrupted || steeredFluency is null) return result with { Interrupted = true };
        EvalResult vanillaTest;
        using (var vanilla = steering.OpenVanilla())
            vanillaTest = new Evaluator(vanilla, tokenizer).Run(request.Task, request.Mode, test, _ => Step("test, vanilla"), cancel);
        var test2 = new SweepTest(steeredTest, vanillaTest, EvalComparison.Of(vanillaTest, steeredTest), steeredFluency);
        return result with { Test = test2, Interrupted = vanillaTest.Interrupted };
    }

    private static FluencyResult? TryFluency(DecoderModel model, ITokenizer tokenizer, IReadOnlyList<string> texts, Action onText, CancellationToken cancel)
    {
        try { return Fluency.Measure(model, tokenizer, texts, onText, cancel); }
        catch (OperationCanceledException) { return null; }
    }
}
