using OnnxSteer.Cli;
using OnnxSteer.Import;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Cli;

/// <summary>
/// The library's warnings name parameters; the CLI prints them with its options. These run the CLI and read its stderr,
/// next to the library's own wording of the same warning, so a command that printed a warning unrendered would fail.
/// </summary>
public sealed class CliNoticeTests
{
    [SharedFact]
    public void Selection_warnings_print_the_tie_break_and_k_options()
    {
        var f = CliFixture.Shared;
        var r = CliFixture.Run("select", f.ProfilePath, "--k", "4");
        Assert.Equal(0, r.Code);
        var tie = Assert.Single(r.Stderr.Split('\n'), l => l.Contains("tie at the cut-off"));
        Assert.Matches(@"^warning: \d+ attn units tie at the cut-off score .* \(--tie-break released\), so the choice among them is arbitrary: use --tie-break effect, more pairs(, or --k \d+)?$", tie);

        var library = SelectionWarnings.For(UnitSelector.Select(SteeringProfile.Load(f.ProfilePath), 4, 10, [SiteKind.Attn], false, SteeringMethod.AuSteer))
            .Single(w => w.ToString().Contains("tie at the cut-off"));
        Assert.Contains("(tieBreak released), so the choice among them is arbitrary: use tieBreak effect", library.ToString());
        Assert.Equal(tie, "warning: " + ErrorReporter.Render(library));
    }

    [SharedFact]
    public void A_forced_profile_of_another_model_warns_with_the_force_option()
    {
        var f = CliFixture.Shared;
        var fp16 = ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp16);
        var refused = CliFixture.Run("patch", fp16, f.ProfilePath, "-o", Path.Combine(f.NewFolder("refused"), "out"));
        Assert.Equal(ExitCodes.InvalidInput, refused.Code);
        Assert.Contains("; use --force to apply it anyway", refused.Stderr);

        var forced = CliFixture.Run("patch", fp16, f.ProfilePath, "-o", Path.Combine(f.NewFolder("forced"), "out"), "--force");
        Assert.True(forced.Code == 0, forced.Stderr);
        Assert.Contains(forced.Stderr.Split('\n'), l => l.StartsWith("warning: ", StringComparison.Ordinal) && l.EndsWith("; applied anyway (--force)", StringComparison.Ordinal));
    }
}
