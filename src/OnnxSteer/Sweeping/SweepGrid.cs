using System.Globalization;
using OnnxSteer.Sites;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Sweeping;

/// <summary>
/// One point of a sweep: k units (per site kind) steered with strength alpha; in a sweep over methods also the method,
/// and for caa (which has no k: K is 0) the layers whose sites get a vector.
/// </summary>
/// <param name="K">Units selected per site kind (all kinds in one list with rankJointly profiles); 0 for caa.</param>
/// <param name="Alpha">Global steering strength.</param>
public readonly record struct SweepSetting(int K, double Alpha)
{
    /// <summary>The selection method; null = the profile's own (a sweep of one profile).</summary>
    public Profiles.SteeringMethod? Method { get; init; }

    /// <summary>caa only: the layers, comma-separated ascending ("2", "0,1,2,3,4"); null otherwise.</summary>
    public string? Layers { get; init; }

    /// <summary>"k 8, alpha 20"; "austeer k 8, alpha 20"; "caa layers 0-4, alpha 2".</summary>
    public override string ToString()
    {
        var method = Method is { } m ? Profiles.SteeringMethods.ToName(m) + " " : "";
        var size = Layers is { } l ? $"layers {LayerSets.Describe(l)}" : string.Create(CultureInfo.InvariantCulture, $"k {K}");
        return string.Create(CultureInfo.InvariantCulture, $"{method}{size}, alpha {Alpha:G}");
    }
}

/// <summary>The k × alpha grid of a sweep.</summary>
internal static class SweepGrid
{
    /// <summary>Every (k, alpha), k ascending, then alpha ascending: the order settings are evaluated and reported in.</summary>
    public static IReadOnlyList<SweepSetting> Settings(IReadOnlyList<int> ks, IReadOnlyList<double> alphas) =>
        ks.Order().SelectMany(k => alphas.Order().Select(a => new SweepSetting(k, a))).ToList();

    /// <summary>
    /// The k values that select different units: every k at or above the most units one ranked list of
    /// <paramref name="kinds"/> holds (each kind alone, or all of them with <paramref name="rankJointly"/>) selects every
    /// unit, so those k collapse into that one count, with a warning naming them; otherwise the list unchanged.
    /// </summary>
    public static (IReadOnlyList<int> Ks, WarningText? Warning) Distinct(IReadOnlyList<int> ks, Profiles.SteeringProfile profile,
        IReadOnlyCollection<SiteKind> kinds, bool rankJointly)
    {
        var perKind = kinds.Select(kind => profile.Sites.Where(s => s.Kind == kind).Sum(s => s.Width)).ToList();
        var all = rankJointly ? perKind.Sum() : perKind.DefaultIfEmpty(0).Max();
        var beyond = ks.Where(k => k > all).Order().ToList();
        if (all < 1 || beyond.Count == 0) return (ks, null);
        var capped = ks.Select(k => Math.Min(k, all)).Distinct().Order().ToList();
        var what = rankJointly || kinds.Count == 1 ? $"the {all} units" : $"the {all} units of the largest site kind";
        WarningText warning = $"warning: {Param("ks")} {string.Join(", ", beyond)} {(beyond.Count == 1 ? "exceeds" : "exceed")} {what} " +
                            $"({string.Join(", ", kinds.Select(k => k.ToName()))}): every such k selects every unit, so it is swept once, as k {all}";
        return (capped, warning);
    }
}

/// <summary>
/// The layer sets a caa sweep tries: text such as <c>2,4,0-4,all</c> (comma-separated sets; a set is one layer, a range
/// <c>a-b</c>, or <c>all</c>), stored in a <see cref="SweepSetting"/> as comma-separated layers, ascending.
/// </summary>
internal static class LayerSets
{
    /// <summary>
    /// Parses the text against a model with layers 0..<paramref name="maxLayer"/>; null text = every single layer and
    /// then all of them together.
    /// </summary>
    public static IReadOnlyList<string> Parse(string? text, int maxLayer)
    {
        if (text is null)
            return Enumerable.Range(0, maxLayer + 1).Select(l => l.ToString(CultureInfo.InvariantCulture))
                .Append(Key(Enumerable.Range(0, maxLayer + 1))).Distinct().ToList();
        var sets = new List<string>();
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            IEnumerable<int> layers;
            var dash = item.IndexOf('-', 1);
            if (item.Equals("all", StringComparison.OrdinalIgnoreCase)) layers = Enumerable.Range(0, maxLayer + 1);
            else if (dash > 0 && Layer(item[..dash]) is { } a && Layer(item[(dash + 1)..]) is { } b && a <= b) layers = Enumerable.Range(a, b - a + 1);
            else if (Layer(item) is { } one) layers = [one];
            else throw new InvalidParameterException("layers", $"{Param("layers")}: '{item}' is not a layer, a range a-b of layers or all (the model's layers are 0..{maxLayer})");
            sets.Add(Key(layers));
        }
        if (sets.Count == 0) throw new InvalidParameterException("layers", $"{Param("layers")}: give a comma-separated list of layer sets, e.g. 2,0-{maxLayer},all");
        return sets.Distinct().ToList();

        int? Layer(string s) => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var l) && l <= maxLayer
            ? l : throw new InvalidParameterException("layers", $"{Param("layers")}: '{s}' is not a layer of this model (0..{maxLayer})");
    }

    /// <summary>The layers of a stored set.</summary>
    public static IReadOnlyList<int> Layers(string key) =>
        key.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList();

    /// <summary>"2", "0-4" for a run of layers, else "1,3".</summary>
    public static string Describe(string key)
    {
        var layers = Layers(key);
        return layers.Count > 2 && layers[^1] - layers[0] == layers.Count - 1
            ? string.Create(CultureInfo.InvariantCulture, $"{layers[0]}-{layers[^1]}") : key;
    }

    private static string Key(IEnumerable<int> layers) => string.Join(",", layers.Distinct().Order().Select(l => l.ToString(CultureInfo.InvariantCulture)));
}
