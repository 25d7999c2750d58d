using OnnxSteer.Sites;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Profiles;

/// <summary>
/// One-line warnings about a unit selection a user can act on: too few pairs for any unit to be significant, chosen
/// units not significant after correction, a best score within chance, and ties at the cut-off decided by layer/index
/// order. Computed per ranking group (a site kind, or all chosen kinds with rank-jointly) from the profile's counts.
/// Beside them, <see cref="NegativeFactor"/> (the sign rule) and <see cref="KBeyondUnits"/> (a k larger than a list).
/// Each is a <see cref="WarningText"/> without a "warning: " lead; <c>ToString()</c> words it.
/// </summary>
public static class SelectionWarnings
{
    /// <summary>
    /// When the selected scaled units of <paramref name="selected"/> include a factor 1 + gamma below zero (a negative
    /// or large alpha): that unit's activation changes sign, not only size (docs/errors.md, "The sign of alpha"). Null
    /// when none does, and for caa profiles.
    /// </summary>
    public static WarningText? NegativeFactor(SteeringProfile selected) =>
        selected.Method == SteeringMethod.Caa ? null : SignRule.NegativeFactor(selected.Selection.Alpha, selected.Units.Select(u => u.Gamma).ToList());

    /// <summary>
    /// A note when <paramref name="k"/> asks for more units than a ranked list of <paramref name="profile"/> holds (the
    /// whole list is then taken): one per list, none when k fits. Lists are one per site kind of
    /// <paramref name="kinds"/>, or one for all of them with <paramref name="jointly"/>. None for caa profiles.
    /// </summary>
    public static IReadOnlyList<WarningText> KBeyondUnits(SteeringProfile profile, int k, IReadOnlyCollection<SiteKind> kinds, bool jointly) =>
        [.. UnitSelector.KBeyondUnits(profile, k, kinds, jointly)];

    /// <summary>The warnings for <paramref name="selected"/> (a profile returned by <see cref="UnitSelector"/>); empty when all is well.</summary>
    public static IReadOnlyList<WarningText> For(SteeringProfile selected)
    {
        var warnings = new List<WarningText>();
        if (selected.Method is SteeringMethod.Caa or SteeringMethod.Random || selected.Pairs < 1 || selected.CountsOmitted) return warnings;
        var s = selected.Selection;
        var groups = s.RankJointly ? [s.Sites.ToList()] : s.Sites.Select(kind => new List<SiteKind> { kind }).ToList();
        foreach (var group in groups)
        {
            var kindIds = group.Select(k => k.ToName()).ToList();
            var units = selected.Units.Where(u => selected.Site(u.Site) is { } site && group.Contains(site.Kind)).ToList();
            if (units.Count == 0) continue;
            var label = string.Join("+", kindIds);
            var family = units[0].Ranked ?? selected.Sites.Where(x => group.Contains(x.Kind)).Sum(x => x.Width);
            Check(selected, group, units, label, family, warnings);
        }
        return warnings;
    }

    private static void Check(SteeringProfile p, List<SiteKind> group, List<SelectedUnit> units, string label, int family, List<WarningText> warnings)
    {
        var n = p.Pairs;
        var k = p.Selection.K;
        var best = units.Max(u => Math.Max(u.RPos, u.RNeg));
        var bestUnit = units.First(u => Math.Max(u.RPos, u.RNeg) == best);
        var bestP = bestUnit.P ?? UnitEvidence.SignTestP(Count(bestUnit.RPos, n), Count(bestUnit.RNeg, n));
        var needed = UnitEvidence.PairsNeeded(family);

        if (UnitEvidence.Bonferroni(UnitEvidence.BestPossibleP(n), family) >= UnitEvidence.Level)
            warnings.Add(
                $"N={n} pairs is too few for any of the {family} {label} units to be significant (even {n} of {n} gives p_adj {UnitEvidence.Bonferroni(UnitEvidence.BestPossibleP(n), family):0.###} after Bonferroni): profile at least {needed} pairs");
        else if (bestP >= UnitEvidence.Level)
            warnings.Add(
                $"the best {label} unit scores {best:0.000} over N={n} pairs, within chance (sign test p={bestP:0.###}): these pairs do not separate the two sides at any {label} unit; steering them is unlikely to help");
        else
        {
            var weak = units.Where(u => (u.PAdjusted ?? 1) >= UnitEvidence.Level).ToList();
            if (weak.Count > 0)
            {
                var strong = units.Count - weak.Count;
                WarningText todo = $"use more pairs (a unit separating all of them needs N ≥ {needed})";
                if (strong > 0) todo = $"use {Param("k")} {strong} or more pairs";
                warnings.Add(
                    $"{weak.Count} of {units.Count} chosen {label} units are not significant after Bonferroni over {family} units (p_adj up to {weak.Max(u => u.PAdjusted ?? 1):0.###}): {todo}");
            }
        }

        if (p.Method != SteeringMethod.AuSteer) return;
        var cutoff = units.Min(u => Count(Math.Max(u.RPos, u.RNeg), n));
        var tiedKept = units.Count(u => Count(Math.Max(u.RPos, u.RNeg), n) == cutoff);
        var tied = 0;
        for (var i = 0; i < p.Sites.Count; i++)
        {
            if (!group.Contains(p.Sites[i].Kind)) continue;
            var c = p.Counts[i];
            for (var u = 0; u < c.Positive.Length; u++)
                if (Math.Max(c.Positive[u], c.Negative[u]) == cutoff) tied++;
        }
        // Ties decided by effect size are a principled choice, not an arbitrary one: only the released order warns.
        if (tied > tiedKept && units.Count == k && p.Selection.TieBreak == TieBreak.Released)
        {
            var above = units.Count - tiedKept;
            // Assigned one at a time: a conditional of interpolated strings would keep only the parameters' names.
            WarningText rule = $"kept by layer/index order ({Param("tieBreak")} released), so the choice among them is arbitrary: use {Param("tieBreak")} effect, more pairs";
            WarningText smallerK = "";
            if (above > 0) smallerK = $", or {Param("k")} {above}";
            warnings.Add(
                $"{tied} {label} units tie at the cut-off score {(double)cutoff / n:0.000} ({cutoff} of {n} pairs) and {tiedKept} of them were {rule}{smallerK}");
        }
    }

    // Units store fractions; the counts are recovered exactly (fractions of N are exact to far better than 1/(2N)).
    private static int Count(double fraction, int pairs) => (int)Math.Round(fraction * pairs);
}
