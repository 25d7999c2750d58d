using System.Globalization;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Profiles;

/// <summary>
/// The one rule for the sign of alpha, the same in profile, select, patch, sweep and import-vector (docs/errors.md,
/// "The sign of alpha"): alpha is any finite number. A scaled unit is multiplied by 1 + gamma with
/// gamma = alpha·r_pos (r_pos ≥ r_neg) or −alpha·r_neg, so a negative alpha steers the other way and alpha 0 changes
/// nothing; an additive vector is alpha times the mean difference, so a negative alpha inverts it. A factor 1 + gamma
/// below zero flips the sign of that unit's activation, rather than only damping or amplifying it: allowed, but
/// announced by <see cref="NegativeFactorWarning(double, IReadOnlyCollection{double})"/>.
/// </summary>
internal static class SignRule
{
    /// <summary>Where the rule is documented, for messages.</summary>
    public const string DocLink = "docs/errors.md#the-sign-of-alpha";

    /// <summary>Refuses only what no rule can use: NaN and infinities.</summary>
    /// <exception cref="InvalidParameterException"><paramref name="alpha"/> is NaN or infinite.</exception>
    public static double CheckAlpha(double alpha, string parameter = "alpha") =>
        double.IsFinite(alpha) ? alpha : throw new InvalidParameterException(parameter, $"{Param(parameter)} {alpha.ToString(CultureInfo.InvariantCulture)}: must be a finite number");

    /// <summary>
    /// The warning (without its "warning: " lead) when any of <paramref name="gammas"/> makes the factor 1 + gamma
    /// negative; null when none does.
    /// </summary>
    public static WarningText? NegativeFactor(double alpha, IReadOnlyCollection<double> gammas)
    {
        var flipped = gammas.Where(g => 1 + g < 0).ToList();
        if (flipped.Count == 0) return null;
        return $"alpha {alpha:G} makes the factor 1+gamma negative for {flipped.Count} of {gammas.Count} unit(s) (lowest {1 + flipped.Min():0.###}): " +
               $"their activations change sign, not only size ({DocLink})";
    }

    /// <summary><see cref="NegativeFactor"/> as a printed line, "warning: ..."; null when no factor is negative.</summary>
    public static string? NegativeFactorWarning(double alpha, IReadOnlyCollection<double> gammas) =>
        NegativeFactor(alpha, gammas) is { } w ? $"warning: {w}" : null;

    /// <summary><see cref="NegativeFactorWarning(double, IReadOnlyCollection{double})"/> for a profile's selected scaled units (none for caa).</summary>
    public static string? NegativeFactorWarning(SteeringProfile profile) =>
        SelectionWarnings.NegativeFactor(profile) is { } w ? $"warning: {w}" : null;
}
