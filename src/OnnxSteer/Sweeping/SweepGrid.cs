using System.Globalization;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Sweeping;

/// <summary>One point of a sweep: k units (per site kind) steered with strength alpha.</summary>
/// <param name="K">Units selected per site kind (all kinds in one list with rankJointly profiles).</param>
/// <param name="Alpha">Global steering strength.</param>
internal readonly record struct SweepSetting(int K, double Alpha)
{
    /// <summary>"k 8, alpha 20".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"k {K}, alpha {Alpha:G}");
}

/// <summary>The k × alpha grid of a sweep, parsed from comma-separated lists.</summary>
internal static class SweepGrid
{
    /// <summary>Parses <c>1,2,4,8</c>: whole numbers ≥ 1, duplicates removed, ascending.</summary>
    public static IReadOnlyList<int> ParseK(string text) =>
        Items(text, "ks").Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var k) && k >= 1
            ? k : throw new InvalidParameterException("ks", $"{Param("ks")}: '{s}' is not a whole number ≥ 1")).Distinct().Order().ToList();

    /// <summary>
    /// Parses <c>-5,1,5,10</c>: finite numbers (0 leaves the model unchanged; a negative alpha steers the other way, as
    /// everywhere: <see cref="Profiles.SignRule"/>), duplicates removed, ascending.
    /// </summary>
    public static IReadOnlyList<double> ParseAlpha(string text) =>
        Items(text, "alphas").Select(s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var a) && double.IsFinite(a)
            ? a : throw new InvalidParameterException("alphas", $"{Param("alphas")} {s}: must be a finite number")).Distinct().Order().ToList();

    /// <summary>Every (k, alpha), k ascending, then alpha ascending: the order settings are evaluated and reported in.</summary>
    public static IReadOnlyList<SweepSetting> Settings(IReadOnlyList<int> ks, IReadOnlyList<double> alphas) =>
        ks.Order().SelectMany(k => alphas.Order().Select(a => new SweepSetting(k, a))).ToList();

    private static IEnumerable<string> Items(string text, string parameter)
    {
        var items = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (items.Length == 0) throw new InvalidParameterException(parameter, $"{Param(parameter)}: give a comma-separated list, e.g. 1,4,16");
        return items;
    }
}
