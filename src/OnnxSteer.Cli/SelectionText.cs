using System.Globalization;
using System.Text;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Cli;

/// <summary>Command-line forms shared by profile, select and merge: site lists, layer lists and a printable summary.</summary>
internal static class SelectionText
{
    /// <summary>Parses "attn,mlp-out" into site kinds; throws an <see cref="InvalidParameterException"/> naming the bad entry.</summary>
    public static List<SiteKind> ParseSites(string text)
    {
        var kinds = new List<SiteKind>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!SiteKinds.TryParse(part, out var kind))
                throw new InvalidParameterException("sites", $"{Param("sites")}: unknown site kind '{part}': expected attn, mlp or mlp-out (comma-separated)");
            if (!kinds.Contains(kind)) kinds.Add(kind);
        }
        if (kinds.Count == 0) throw new InvalidParameterException("sites", $"{Param("sites")}: empty; expected attn, mlp or mlp-out (comma-separated)");
        return kinds;
    }

    /// <summary>Parses "3,5" into layer numbers; throws an <see cref="InvalidParameterException"/> naming the bad entry.</summary>
    public static List<int> ParseLayers(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var l)
                ? l
                : throw new InvalidParameterException("layers", $"{Param("layers")}: '{s}' is not a layer number"))
            .ToList();

    /// <summary>Parses a method name; throws an <see cref="InvalidParameterException"/> listing the choices.</summary>
    public static SteeringMethod ParseMethod(string text) => SteeringMethods.TryParse(text, out var m)
        ? m
        : throw new InvalidParameterException("method", $"{Param("method")}: unknown method '{text}': expected austeer, actdiff, random or caa");

    /// <summary>A few lines describing the selection, then up to <paramref name="maxUnits"/> units as a table.</summary>
    public static string Summary(SteeringProfile p, int maxUnits = 20)
    {
        var s = p.Selection;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture,
            $"{p.Method.ToName()}: N={p.Pairs} pairs, sites {string.Join(",", s.Sites.Select(k => k.ToName()))}{(s.RankJointly ? " (ranked jointly)" : "")}, ");
        if (p.Method == SteeringMethod.Caa)
        {
            sb.Append(CultureInfo.InvariantCulture, $"alpha {s.Alpha}: {p.Caa.Count} vector(s) at {string.Join(", ", p.Caa.Select(v => v.Site))}\n");
            return sb.ToString();
        }
        var rules = s.TieBreak == TieBreak.Released && s.Direction == DirectionRule.Released
            ? ""
            : $", tie-break {s.TieBreak.ToName()}, direction {s.Direction.ToName()}";
        sb.Append(CultureInfo.InvariantCulture, $"k {s.K}, alpha {s.Alpha}{(p.Method == SteeringMethod.Random ? $", seed {s.Seed}" : "")}{rules}: {p.Units.Count} unit(s)\n");
        sb.Append("  site          index   r_pos   r_neg     score      gamma    p_adj  effect   mean_pos   mean_neg\n");
        foreach (var u in p.Units.Take(maxUnits))
            sb.Append(CultureInfo.InvariantCulture,
                $"  {u.Site,-12} {u.Index,6} {u.RPos,7:0.000} {u.RNeg,7:0.000} {u.Score,9:0.####} {Opt(u.Gamma, "0.####"),10} {Opt(u.PAdjusted, "G2"),8} {Opt(u.EffectSize, "0.00"),7} {Opt(u.MeanPos, "0.####"),10} {Opt(u.MeanNeg, "0.####"),10}\n");
        if (p.Units.Count > maxUnits) sb.Append(CultureInfo.InvariantCulture, $"  ... {p.Units.Count - maxUnits} more\n");
        if (p.Units.FirstOrDefault() is { Ranked: { } family })
            sb.Append(CultureInfo.InvariantCulture,
                $"  p_adj: two-sided sign test, Bonferroni over the {family} units ranked together; effect: mean/sd of pos − neg{(p.Units.Any(u => u.MeanPos is null) ? " (effect and means need a profile/2 file: absent here)" : "")}\n");
        return sb.ToString();
    }

    /// <summary>The probe table printed by <c>profile --probes</c>: per site, accuracy on held-out and training pairs.</summary>
    public static string ProbeSummary(ProbeSet probes)
    {
        var sb = new StringBuilder();
        var (train, held) = probes.TrainTexts is { } t
            ? ($"{t} texts", $"{probes.HeldOutTexts} held-out texts")
            : ($"{probes.TrainPairs} pairs", $"{probes.HeldOutPairs} held-out pairs");
        var pooling = probes.Activation == ProbeSet.MeanTokenSiteActivation ? "token mean" : "last token";
        sb.Append(CultureInfo.InvariantCulture,
            $"probes ({probes.Predicts} vs {(probes.Predicts == "undesired" ? "neutral" : "positive")} from {probes.Data ?? "the pairs"}; logistic on the {pooling}{(probes.Pca is { } k ? $", PCA {k}" : "")}, " +
            $"l2 {probes.L2}, fit on {train}, accuracy on {held}):\n");
        sb.Append("  site          held-out   train\n");
        foreach (var p in probes.Sites)
            sb.Append(CultureInfo.InvariantCulture, $"  {p.Site,-12} {p.HeldOutAccuracy,9:0.000} {p.TrainAccuracy,7:0.000}\n");
        return sb.ToString();
    }

    // A value that rounds to zero prints "0", never "-0" (a negative zero, or a tiny negative number, under "0.####").
    private static string Opt(double? value, string format) => value is { } v ? NoNegativeZero(v.ToString(format, CultureInfo.InvariantCulture)) : "-";

    private static string NoNegativeZero(string text) => text == "-0" ? "0" : text;

    /// <summary>The selection's warnings (<see cref="SelectionWarnings.For"/>), each as a "warning: ..." line.</summary>
    public static IReadOnlyList<WarningText> Warnings(SteeringProfile p) => [.. SelectionWarnings.For(p).Select(Warning)];

    /// <summary>The sign rule's warning (<see cref="SelectionWarnings.NegativeFactor"/>) as a "warning: ..." line; null when none.</summary>
    public static string? NegativeFactorWarning(SteeringProfile p) => SelectionWarnings.NegativeFactor(p) is { } w ? $"warning: {w}" : null;

    private static WarningText Warning(WarningText w) => $"warning: {w}";
}
