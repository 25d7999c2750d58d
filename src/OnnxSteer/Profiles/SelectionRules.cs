using static OnnxSteer.ErrorText;

namespace OnnxSteer.Profiles;

/// <summary>How units with the same momentum score are ordered.</summary>
public enum TieBreak
{
    /// <summary>The released code's order: lower layer, then lower index. Reproduces the paper; the default.</summary>
    Released,
    /// <summary>Larger |effect size| (mean/sd of the differences) first, then the released order. Needs schema /2 sums.</summary>
    Effect,
}

/// <summary>How the sign of gamma is chosen.</summary>
public enum DirectionRule
{
    /// <summary>The released code's rule: gamma = +alpha·r_pos when r_pos ≥ r_neg, else −alpha·r_neg. The default.</summary>
    Released,
    /// <summary>
    /// The released magnitude, with the sign flipped when the unit's mean activation (over both sides) is negative:
    /// scaling by 1 + gamma moves x by gamma·x, so for a negative x the released sign moves it away from the side it
    /// should move towards. Needs schema /2 sums.
    /// </summary>
    SignAware,
}

/// <summary>Text forms of <see cref="TieBreak"/> and <see cref="DirectionRule"/> used on the command line and in JSON.</summary>
public static class SelectionRules
{
    /// <summary>The name of <paramref name="rule"/>: released or effect.</summary>
    public static string ToName(this TieBreak rule) => rule switch
    {
        TieBreak.Released => "released",
        TieBreak.Effect => "effect",
        _ => throw new ArgumentOutOfRangeException(nameof(rule)),
    };

    /// <summary>The name of <paramref name="rule"/>: released or sign-aware.</summary>
    public static string ToName(this DirectionRule rule) => rule switch
    {
        DirectionRule.Released => "released",
        DirectionRule.SignAware => "sign-aware",
        _ => throw new ArgumentOutOfRangeException(nameof(rule)),
    };

    /// <summary>The tie-break rule named <paramref name="name"/> (case and surrounding spaces ignored); false when none is.</summary>
    public static bool TryParseTieBreak(string name, out TieBreak rule)
    {
        switch (name.Trim().ToLowerInvariant())
        {
            case "released": rule = TieBreak.Released; return true;
            case "effect": rule = TieBreak.Effect; return true;
            default: rule = default; return false;
        }
    }

    /// <summary>The direction rule named <paramref name="name"/> (case and surrounding spaces ignored); false when none is.</summary>
    public static bool TryParseDirection(string name, out DirectionRule rule)
    {
        switch (name.Trim().ToLowerInvariant())
        {
            case "released": rule = DirectionRule.Released; return true;
            case "sign-aware": rule = DirectionRule.SignAware; return true;
            default: rule = default; return false;
        }
    }

    /// <summary>Parses a tie-break rule; throws an <see cref="InvalidParameterException"/> (parameter <c>tieBreak</c>) listing the choices.</summary>
    public static TieBreak ParseTieBreak(string text) => TryParseTieBreak(text, out var rule)
        ? rule
        : throw new InvalidParameterException("tieBreak", $"{Param("tieBreak")}: unknown rule '{text}': expected released or effect");

    /// <summary>Parses a direction rule; throws an <see cref="InvalidParameterException"/> (parameter <c>direction</c>) listing the choices.</summary>
    public static DirectionRule ParseDirection(string text) => TryParseDirection(text, out var rule)
        ? rule
        : throw new InvalidParameterException("direction", $"{Param("direction")}: unknown rule '{text}': expected released or sign-aware");
}
