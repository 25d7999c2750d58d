using OnnxSteer.Evaluation;
using OnnxSteer.Generation;
using OnnxSteer.Pairs;
using OnnxSteer.Tokenizers;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Sweeping;

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
    /// <param name="request">What to sweep (<see cref="SweepRequest.Methods"/> is ignored here: see <see cref="MethodSweepRunner"/>).</param>
    /// <param name="progress">Items evaluated and texts scored, over the whole sweep.</param>
    /// <param name="checkpoint">Called with the partial result after every finished setting.</param>
    /// <param name="cancel">Stops at the next item; the result returned is marked interrupted.</param>
    /// <exception cref="InvalidParameterException">An empty grid, or slices that do not fit (the parameter is named).</exception>
    /// <exception cref="InvalidProfileException">The profile cannot be swept (e.g. caa, which has no k), or does not fit the model.</exception>
    /// <exception cref="InvalidInputException">The data file is missing or has a bad record.</exception>
    public static SweepResult Run(SweepRequest request, IProgress<SweepProgress>? progress = null, Action<SweepResult>? checkpoint = null,
        CancellationToken cancel = default)
    {
        var steering = new InMemorySteering(request.ModelPath, request.ProfilePath, request.Runtime);
        if (steering.Profile.Method == Profiles.SteeringMethod.Caa)
            throw new InvalidProfileException($"{request.ProfilePath}: a caa profile has no units to choose k of; sweep it as a method ({Param("methods")} caa, strength × layer sets) or give an austeer, actdiff or random profile");
        var kinds = request.Sites ?? steering.DefaultKinds;
        var data = SweepData.Load(request, steering);
        var (slices, validation, test, tokenizer) = (data.Slices, data.Validation, data.Test, data.Tokenizer);
        // k beyond the units selects the same units as the count itself: sweep that once, not as duplicate rows.
        var (ks, capped) = SweepGrid.Distinct(request.Ks, steering.Profile, kinds, steering.Profile.Selection.RankJointly);
        if (capped is not null)
        {
            request = request with { Ks = ks };
            slices = slices with { Notes = [.. slices.Notes, capped] };
        }
        var grid = SweepGrid.Settings(request.Ks, request.Alphas);
        // Validate the selection once up front (unknown site kinds, empty profile) before any model runs, and say which
        // settings flip the sign of some unit (a factor 1 + gamma below zero): selection is cheap next to one evaluation.
        steering.Select(grid[0], kinds);
        var flipping = grid.Select(s => (Setting: s, Warning: Profiles.SignRule.NegativeFactorWarning(steering.Select(s, kinds))))
            .Where(x => x.Warning is not null).ToList();
        if (flipping.Count > 0)
            slices = slices with { Notes = [.. slices.Notes, $"warning: {flipping.Count} of {grid.Count} settings make a factor 1+gamma negative " +
                $"(their units' activations change sign), e.g. {flipping[0].Setting}: {flipping[0].Warning!["warning: ".Length..]}"] };

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

        var best = SettingChooser.Best(settings, result.VanillaFluency, request.MaxFluencyDrop);
        var chosen = SettingChooser.Choose(settings, result.VanillaValidation, result.VanillaFluency, request.MaxFluencyDrop);
        result = result with { Best = best };
        // Every setting broke fluency beyond the guard, or none gets more validation items right than the vanilla model:
        // nothing is chosen, so nothing is tested.
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

    internal static FluencyResult? TryFluency(DecoderModel model, ITokenizer tokenizer, IReadOnlyList<string> texts, Action onText, CancellationToken cancel)
    {
        try { return Fluency.Measure(model, tokenizer, texts, onText, cancel); }
        catch (OperationCanceledException) { return null; }
    }
}

/// <summary>
/// What every sweep loads before a model runs: the slices (checked against the profile's pairs), their items and the
/// tokenizer, after the request's own checks.
/// </summary>
internal sealed record SweepData(SweepSlices Slices, IReadOnlyList<EvalItem> Validation, IReadOnlyList<EvalItem> Test, ITokenizer Tokenizer)
{
    /// <summary>Checks <paramref name="request"/> and loads its slices for <paramref name="steering"/>'s profile and model.</summary>
    /// <exception cref="OnnxSteerException">An empty grid, a bad guard, too few records, or slices that overlap the profile's pairs.</exception>
    public static SweepData Load(SweepRequest request, InMemorySteering steering)
    {
        if (request.Ks.Count == 0 || request.Alphas.Count == 0) throw new InvalidParameterException(request.Ks.Count == 0 ? "ks" : "alphas", $"the sweep grid is empty: give {Param("ks")} and {Param("alphas")} lists");
        if (request.MaxFluencyDrop is { } drop && !(drop >= 0 && double.IsFinite(drop)))
            throw new InvalidParameterException("maxFluencyDrop", $"{Param("maxFluencyDrop")} {drop}: must be a finite number ≥ 0 (nats per token)");
        if (request.Task == BenchmarkTask.Pairs && request.Mode == EvalMode.Generate)
            throw new InvalidParameterException("task", $"{Param("task")} pairs is scored by log-likelihood only: use {Param("mode")} loglik");
        var slices = SweepSlices.Plan(steering.Profile, request.DataPath, request.Offset, request.Validation, request.Test);
        var validation = EvalItems.Load(request.Task, request.DataPath, slices.Validation.Offset, slices.Validation.Count);
        if (validation.Count < request.Validation)
            throw new InvalidInputException($"{request.DataPath}: only {validation.Count} records from record {slices.Validation.Offset}, fewer than {Param("validation")} {request.Validation}");
        var test = EvalItems.Load(request.Task, request.DataPath, slices.Test.Offset, slices.Test.Count);
        if (test.Count == 0)
            throw new InvalidInputException($"{request.DataPath}: no records left for the test slice after record {slices.Test.Offset}");
        if (request.Test is { } asked && test.Count < asked)
            slices = slices with { Notes = [.. slices.Notes, $"warning: only {test.Count} test records after record {slices.Test.Offset} ({Param("test")} {asked})"] };
        var tokenizer = TokenizerLoader.Load(request.TokenizerPath ?? Path.GetDirectoryName(Path.GetFullPath(steering.ModelFile))!);
        return new SweepData(slices, validation, test, tokenizer);
    }
}
