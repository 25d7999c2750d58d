using OnnxSteer.Evaluation;
using OnnxSteer.Profiles;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Sweeping;

/// <summary>
/// Which method to use: the same profile's statistics re-selected by every requested method (austeer, actdiff, random
/// over k × alpha; caa over strength × layer set), each setting patched in memory and evaluated on the validation slice
/// with its fluency; each method's best chosen on validation only; then each of those and the vanilla model evaluated
/// once on the test slice, paired item by item against the vanilla model and against each other.
/// </summary>
public static class MethodSweepRunner
{
    /// <summary>
    /// Runs the sweep; <paramref name="checkpoint"/> sees the result after every finished setting; cancellation stops
    /// at the next item and returns what finished, marked interrupted.
    /// </summary>
    /// <param name="request">What to sweep; <see cref="SweepRequest.Methods"/> names the methods.</param>
    /// <param name="progress">Items evaluated and texts scored, over the whole sweep.</param>
    /// <param name="checkpoint">Called with the partial result after every finished setting.</param>
    /// <param name="cancel">Stops at the next item; the result returned is marked interrupted.</param>
    /// <exception cref="InvalidParameterException">No methods, an empty grid, or slices that do not fit (the parameter is named).</exception>
    /// <exception cref="InvalidProfileException">The profile lacks what a method needs, or does not fit the model.</exception>
    /// <exception cref="InvalidInputException">The data file is missing or has a bad record.</exception>
    public static MethodSweepResult Run(SweepRequest request, IProgress<SweepProgress>? progress = null,
        Action<MethodSweepResult>? checkpoint = null, CancellationToken cancel = default)
    {
        var methods = request.Methods ?? throw new InvalidParameterException("methods", $"{Param("methods")}: give the methods to compare, e.g. austeer,caa,actdiff,random");
        if (methods.Count == 0) throw new InvalidParameterException("methods", $"{Param("methods")}: give the methods to compare, e.g. austeer,caa,actdiff,random");
        if (request.CaaAlphas is { Count: 0 }) throw new InvalidParameterException("caaAlphas", $"{Param("caaAlphas")}: give a comma-separated list of strengths");
        var steering = new InMemorySteering(request.ModelPath, request.ProfilePath, request.Runtime);
        var kinds = request.Sites ?? steering.DefaultKinds;
        var data = SweepData.Load(request, steering);
        var slices = data.Slices;
        var (ks, capped) = SweepGrid.Distinct(request.Ks, steering.Profile, kinds, steering.Profile.Selection.RankJointly);
        if (capped is not null) slices = slices with { Notes = [.. slices.Notes, capped] };
        request = request with { Ks = ks };
        var grids = methods.Distinct().Select(m => (Method: m, Grid: Grid(m, request, steering, kinds))).ToList();
        // Every selection once up front: a profile without sums, an unknown kind or layer fails before any model runs.
        foreach (var (_, grid) in grids) foreach (var s in grid) steering.Select(s, kinds);

        var (validation, test, tokenizer) = (data.Validation, data.Test, data.Tokenizer);
        var fluencyCount = request.FluencyTexts.Count;
        var settingsTotal = grids.Sum(g => g.Grid.Count);
        var total = (settingsTotal + 1) * (validation.Count + fluencyCount) + (grids.Count + 1) * test.Count;
        var done = 0;
        void Step(string stage) => progress?.Report(new SweepProgress(stage, ++done, total));

        var result = new MethodSweepResult
        {
            Request = request, ModelFile = steering.ModelFile, Sites = kinds, Slices = slices,
            ValidationIds = validation.Select(i => i.Id).ToList(), TestIds = test.Select(i => i.Id).ToList(), Methods = [],
        };
        using (var vanilla = steering.OpenVanilla())
        {
            var val = new Evaluator(vanilla, tokenizer).Run(request.Task, request.Mode, validation, _ => Step("validation, vanilla"), cancel);
            if (val.Interrupted) return result with { Interrupted = true };
            var fluency = SweepRunner.TryFluency(vanilla, tokenizer, request.FluencyTexts, () => Step("fluency, vanilla"), cancel);
            if (fluency is null) return result with { Interrupted = true };
            result = result with { VanillaValidation = val, VanillaFluency = fluency };
        }

        var outcomes = new List<MethodOutcome>();
        foreach (var (method, grid) in grids)
        {
            var settings = new List<SettingResult>();
            MethodOutcome Outcome() => new(method, settings.ToList(), [], null, null, null);
            foreach (var setting in grid)
            {
                var selected = steering.Select(setting, kinds);
                using var steered = steering.Open(selected);
                var val = new Evaluator(steered, tokenizer).Run(request.Task, request.Mode, validation, _ => Step($"validation, {setting}"), cancel);
                var fluency = val.Interrupted ? null : SweepRunner.TryFluency(steered, tokenizer, request.FluencyTexts, () => Step($"fluency, {setting}"), cancel);
                if (fluency is null) return result with { Methods = [.. outcomes, Outcome()], Interrupted = true };
                settings.Add(new SettingResult(setting, InMemorySteering.Scalars(selected), val, fluency));
                result = result with { Methods = [.. outcomes, Outcome()] };
                checkpoint?.Invoke(result);
            }
            var best = SettingChooser.Best(settings, result.VanillaFluency, request.MaxFluencyDrop);
            outcomes.Add(new MethodOutcome(method, settings, ParetoFront.Of(settings, result.VanillaFluency!), best,
                best is null ? null : steering.Select(best.Setting, kinds), null));
            result = result with { Methods = outcomes.ToList() };
        }
        result = result with { Chosen = Choose(outcomes, result.VanillaValidation) };

        // The test slice, once: the vanilla model, then each method's best on validation.
        EvalResult vanillaTest;
        using (var vanilla = steering.OpenVanilla())
            vanillaTest = new Evaluator(vanilla, tokenizer).Run(request.Task, request.Mode, test, _ => Step("test, vanilla"), cancel);
        if (vanillaTest.Interrupted) return result with { Interrupted = true };
        var vanillaMargins = Margins.Of(vanillaTest, test);
        result = result with { VanillaTest = vanillaTest, VanillaTestMargins = vanillaMargins };
        for (var i = 0; i < outcomes.Count; i++)
        {
            if (outcomes[i].BestProfile is not { } profile) continue;
            EvalResult steeredTest;
            using (var steered = steering.Open(profile))
                steeredTest = new Evaluator(steered, tokenizer).Run(request.Task, request.Mode, test, _ => Step($"test, {outcomes[i].Best!.Setting}"), cancel);
            if (steeredTest.Interrupted) return result with { Methods = outcomes.ToList(), Interrupted = true };
            var margins = Margins.Of(steeredTest, test);
            outcomes[i] = outcomes[i] with
            {
                Test = new MethodTest(steeredTest, EvalComparison.Of(vanillaTest, steeredTest), margins,
                    margins is not null && vanillaMargins is not null ? MeanDifference.Paired(vanillaMargins, margins) : null),
            };
        }
        var pairs = new List<MethodPair>();
        var tested = outcomes.Where(o => o.Test is not null).ToList();
        for (var a = 0; a < tested.Count; a++)
        for (var b = a + 1; b < tested.Count; b++)
        {
            var (x, y) = (tested[a].Test!, tested[b].Test!);
            pairs.Add(new MethodPair(tested[a].Method, tested[b].Method, EvalComparison.Of(x.Result, y.Result),
                x.Margins is not null && y.Margins is not null ? MeanDifference.Paired(x.Margins, y.Margins) : null));
        }
        var chosen = result.Chosen is { } c ? outcomes.First(o => o.Method == c.Method) : null;
        return result with { Methods = outcomes.ToList(), Pairs = pairs, Chosen = chosen };
    }

    /// <summary>
    /// The method to use, on validation only: of the methods whose best setting gets more validation items right than the
    /// vanilla model, the most right; ties to fewer steered scalars, then the order asked for. Null when none beats it.
    /// </summary>
    internal static MethodOutcome? Choose(IReadOnlyList<MethodOutcome> outcomes, EvalResult? vanillaValidation) =>
        outcomes.Where(o => o.Best is { } b && SettingChooser.BeatsVanilla(b, vanillaValidation))
            .OrderByDescending(o => o.Best!.Validation.Correct).ThenBy(o => o.Best!.Units).FirstOrDefault();

    /// <summary>
    /// A method's grid: k × alpha for the unit methods (k ascending, then alpha); strength × layer set for caa (layer sets
    /// in the order given, then strength ascending).
    /// </summary>
    internal static IReadOnlyList<SweepSetting> Grid(SteeringMethod method, SweepRequest request, InMemorySteering steering, IReadOnlyList<Sites.SiteKind> kinds)
    {
        if (method != SteeringMethod.Caa)
            return SweepGrid.Settings(request.Ks, request.Alphas).Select(s => s with { Method = method }).ToList();
        var maxLayer = steering.Profile.Sites.Where(s => kinds.Contains(s.Kind)).Select(s => s.Layer).DefaultIfEmpty(0).Max();
        var alphas = (request.CaaAlphas ?? request.Alphas).Distinct().Order().ToList();
        return LayerSets.Parse(request.CaaLayers, maxLayer)
            .SelectMany(layers => alphas.Select(a => new SweepSetting(0, a) { Method = method, Layers = layers })).ToList();
    }
}
