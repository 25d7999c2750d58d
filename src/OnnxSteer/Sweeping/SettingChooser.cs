using OnnxSteer.Evaluation;

namespace OnnxSteer.Sweeping;

/// <summary>Chooses the best setting on validation only.</summary>
internal static class SettingChooser
{
    /// <summary>The rule, for reports.</summary>
    public const string TieRule = "highest validation accuracy; ties go to the smaller k, then the smaller |alpha| (the smaller intervention), then the lower alpha";

    /// <summary>
    /// The setting with the most validation items right; ties to the smaller k, then the smaller alpha. With
    /// <paramref name="maxFluencyDrop"/>, only settings whose fluency is at most that far below <paramref name="vanilla"/>'s
    /// are candidates. Null when there is none.
    /// </summary>
    public static SettingResult? Choose(IReadOnlyList<SettingResult> settings, FluencyResult? vanilla = null, double? maxFluencyDrop = null) =>
        settings.Where(s => Eligible(s, vanilla, maxFluencyDrop))
            .OrderByDescending(s => s.Validation.Accuracy).ThenBy(s => s.Setting.K).ThenBy(s => Math.Abs(s.Setting.Alpha)).ThenBy(s => s.Setting.Alpha).FirstOrDefault();

    /// <summary>True when <paramref name="setting"/> passes the fluency guard (always, without one).</summary>
    public static bool Eligible(SettingResult setting, FluencyResult? vanilla, double? maxFluencyDrop) =>
        maxFluencyDrop is not { } d || vanilla is null || vanilla.MeanLogLikelihood - setting.Fluency.MeanLogLikelihood <= d;
}
