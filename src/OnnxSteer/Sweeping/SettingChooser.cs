using OnnxSteer.Evaluation;

namespace OnnxSteer.Sweeping;

/// <summary>Chooses the best setting on validation only.</summary>
internal static class SettingChooser
{
    /// <summary>The rule, for reports.</summary>
    public const string TieRule = "highest validation accuracy, and more items right than the vanilla model; ties go to the smaller k, " +
                                  "then fewer steered scalars, then the smaller |alpha| (the smaller intervention), then the positive alpha (the profile's direction)";

    /// <summary>
    /// The setting with the most validation items right; ties to the smaller k, then fewer steered scalars, then the
    /// smaller |alpha|, then the positive alpha (a profile steers towards its positive side; −a is the other way, chosen
    /// only when it does better). With <paramref name="maxFluencyDrop"/>, only settings whose fluency is at most that far
    /// below <paramref name="vanilla"/>'s are candidates. Null when there is none. Whether it beats the vanilla model is
    /// <see cref="BeatsVanilla"/>'s question: this is the best of the grid.
    /// </summary>
    public static SettingResult? Best(IReadOnlyList<SettingResult> settings, FluencyResult? vanilla = null, double? maxFluencyDrop = null) =>
        Order(settings.Where(s => Eligible(s, vanilla, maxFluencyDrop))).FirstOrDefault();

    /// <summary>
    /// <see cref="Best"/> when it gets more validation items right than the vanilla model (<paramref name="vanillaValidation"/>),
    /// else null: a setting that only matches the unsteered model is no reason to steer.
    /// </summary>
    public static SettingResult? Choose(IReadOnlyList<SettingResult> settings, EvalResult? vanillaValidation, FluencyResult? vanilla = null, double? maxFluencyDrop = null) =>
        Best(settings, vanilla, maxFluencyDrop) is { } best && BeatsVanilla(best, vanillaValidation) ? best : null;

    /// <summary>The order of preference among settings: most right first, then the tie rule.</summary>
    public static IOrderedEnumerable<SettingResult> Order(IEnumerable<SettingResult> settings) =>
        settings.OrderByDescending(s => s.Validation.Correct).ThenBy(s => s.Setting.K).ThenBy(s => s.Units)
            .ThenBy(s => Math.Abs(s.Setting.Alpha)).ThenByDescending(s => s.Setting.Alpha);

    /// <summary>True when <paramref name="setting"/> gets more validation items right than the vanilla model (always, without a vanilla figure).</summary>
    public static bool BeatsVanilla(SettingResult setting, EvalResult? vanillaValidation) =>
        vanillaValidation is null || setting.Validation.Correct > vanillaValidation.Correct;

    /// <summary>True when <paramref name="setting"/> passes the fluency guard (always, without one).</summary>
    public static bool Eligible(SettingResult setting, FluencyResult? vanilla, double? maxFluencyDrop) =>
        maxFluencyDrop is not { } d || vanilla is null || vanilla.MeanLogLikelihood - setting.Fluency.MeanLogLikelihood <= d;
}
