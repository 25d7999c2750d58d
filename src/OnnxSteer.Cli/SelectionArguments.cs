using OnnxSteer.Profiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Cli;

/// <summary>
/// --k and --alpha checked before any file is read or model run (profile, select, patch): a mistake there should cost
/// nothing, not a whole profiling run.
/// </summary>
public static class SelectionArguments
{
    /// <summary>Throws a usage error (exit 64) for k below 1 or a non-finite alpha; null means "not given".</summary>
    public static void Check(int? k, double? alpha)
    {
        if (k is < 1) throw new CommandLineException($"--k {k}: must be at least 1", ExitCodes.Usage);
        if (alpha is { } a) SignRule.CheckAlpha(a);
    }

    /// <summary>
    /// A note when k asks for more units than a ranked list holds (the whole list is then taken): one line per list,
    /// empty when k fits. Lists are one per site kind, or one for all kinds with <paramref name="jointly"/>.
    /// </summary>
    public static IEnumerable<string> KBeyondUnits(SteeringProfile profile, int k, IReadOnlyCollection<Sites.SiteKind> kinds, bool jointly) =>
        UnitSelector.KBeyondUnits(profile, k, kinds, jointly).Select(note => "note: " + ErrorReporter.Render(note));
}
