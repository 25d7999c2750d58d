namespace OnnxSteer.Profiles;

/// <summary>How units (or vectors) are chosen from a profile's statistics (see docs: method.md).</summary>
public enum SteeringMethod
{
    /// <summary>AUSteer: rank units by activation momentum, score = max(r_pos, r_neg).</summary>
    AuSteer,
    /// <summary>SADI-style baseline: rank units by |mean(pos − neg)|; gamma as in AUSteer.</summary>
    ActDiff,
    /// <summary>Ablation: k seeded-random units with AUSteer's gamma rule.</summary>
    Random,
    /// <summary>CAA baseline: a mean-difference vector per chosen site, times alpha, added at every position.</summary>
    Caa,
}

/// <summary>Text forms of <see cref="SteeringMethod"/> used on the command line and in JSON: austeer, actdiff, random, caa.</summary>
public static class SteeringMethods
{
    /// <summary>The name of <paramref name="method"/>: austeer, actdiff, random or caa.</summary>
    public static string ToName(this SteeringMethod method) => method switch
    {
        SteeringMethod.AuSteer => "austeer",
        SteeringMethod.ActDiff => "actdiff",
        SteeringMethod.Random => "random",
        SteeringMethod.Caa => "caa",
        _ => throw new ArgumentOutOfRangeException(nameof(method)),
    };

    /// <summary>The method named <paramref name="name"/> (case and surrounding spaces ignored).</summary>
    /// <exception cref="FormatException">No method has that name.</exception>
    public static SteeringMethod Parse(string name) => TryParse(name, out var method)
        ? method
        : throw new FormatException($"unknown method '{name}': expected austeer, actdiff, random or caa");

    /// <summary>As <see cref="Parse"/>, false instead of an exception.</summary>
    public static bool TryParse(string name, out SteeringMethod method)
    {
        switch (name.Trim().ToLowerInvariant())
        {
            case "austeer": method = SteeringMethod.AuSteer; return true;
            case "actdiff": method = SteeringMethod.ActDiff; return true;
            case "random": method = SteeringMethod.Random; return true;
            case "caa": method = SteeringMethod.Caa; return true;
            default: method = default; return false;
        }
    }

    /// <summary>True when the method needs the per-unit sums of (pos − neg), not only the sign counts.</summary>
    internal static bool NeedsSums(this SteeringMethod method) => method is SteeringMethod.ActDiff or SteeringMethod.Caa;
}
