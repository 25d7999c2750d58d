using OnnxSteer.Profiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Cli;

/// <summary>
/// Notes on --k that need the profile (profile, select). The values themselves are checked when the command line is
/// parsed (<see cref="Options.SteeringOptions"/>), before any file is read.
/// </summary>
public static class SelectionArguments
{
    /// <summary>
    /// A note when k asks for more units than a ranked list holds (the whole list is then taken): one line per list,
    /// empty when k fits. Lists are one per site kind, or one for all kinds with <paramref name="jointly"/>.
    /// </summary>
    public static IEnumerable<string> KBeyondUnits(SteeringProfile profile, int k, IReadOnlyCollection<Sites.SiteKind> kinds, bool jointly) =>
        SelectionWarnings.KBeyondUnits(profile, k, kinds, jointly).Select(note => "note: " + ErrorReporter.Render(note));
}
