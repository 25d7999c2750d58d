using static OnnxSteer.ErrorText;

namespace OnnxSteer.Profiles;

/// <summary>
/// A deterministic part of a pair list: shard <see cref="Index"/> of <see cref="Count"/> (0-based, written "i/n")
/// holds the pairs whose position j in the list satisfies j mod n = i. Interleaving keeps shards balanced when
/// lengths drift along a file. The shards of one list are disjoint and together cover it.
/// </summary>
/// <param name="Index">This shard's number, 0-based (i in "i/n").</param>
/// <param name="Count">How many shards the list is cut into (n in "i/n").</param>
public readonly record struct ShardSpec(int Index, int Count)
{
    /// <summary>The whole list as one shard.</summary>
    public static ShardSpec All => new(0, 1);

    /// <summary>True when pair position <paramref name="position"/> belongs to this shard.</summary>
    public bool Contains(int position) => position % Count == Index;

    /// <summary>"i/n".</summary>
    public override string ToString() => $"{Index}/{Count}";

    /// <summary>Parses "i/n" with 0 ≤ i &lt; n.</summary>
    public static bool TryParse(string? text, out ShardSpec shard)
    {
        shard = All;
        if (text is null) return false;
        var parts = text.Split('/');
        if (parts.Length != 2
            || !int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var i)
            || !int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
            || n < 1 || i >= n)
            return false;
        shard = new ShardSpec(i, n);
        return true;
    }

    /// <summary>Parses "i/n" or throws an <see cref="InvalidParameterException"/> saying what is expected.</summary>
    public static ShardSpec Parse(string text) => TryParse(text, out var s)
        ? s
        : throw new InvalidParameterException("shard", $"{Param("shard")} '{text}': expected i/n with 0 ≤ i < n (0-based), e.g. 0/4");

    /// <summary>
    /// The command-line form: "i/n", or "env:VAR/n" where the environment variable VAR holds i (a job array's task index, e.g.
    /// SLURM_ARRAY_TASK_ID or Kubernetes' JOB_COMPLETION_INDEX), or throws an <see cref="OnnxSteerException"/> (usage
    /// error) saying what is expected.
    /// </summary>
    /// <exception cref="InvalidParameterException">Neither form, or the variable is not set.</exception>
    public static ShardSpec FromArgument(string text, Func<string, string?>? environment = null)
    {
        var resolved = ResolveEnvironment(text, environment ?? Environment.GetEnvironmentVariable);
        return TryParse(resolved, out var s)
            ? s
            : throw new InvalidParameterException("shard",
                $"{Param("shard")} '{text}'{(resolved == text ? "" : $" (= {resolved})")}: expected i/n with 0 ≤ i < n (0-based), e.g. 0/4 or env:SLURM_ARRAY_TASK_ID/4");
    }

    private const string EnvPrefix = "env:";

    /// <summary>"env:VAR/n" → "value/n"; anything else unchanged. An unset or empty variable is an <see cref="InvalidParameterException"/>.</summary>
    private static string ResolveEnvironment(string text, Func<string, string?> environment)
    {
        if (!text.StartsWith(EnvPrefix, StringComparison.Ordinal)) return text;
        var slash = text.LastIndexOf('/');
        var name = slash > EnvPrefix.Length ? text[EnvPrefix.Length..slash] : text[EnvPrefix.Length..];
        var value = environment(name);
        if (string.IsNullOrWhiteSpace(value))
            throw new InvalidParameterException("shard", $"{Param("shard")} '{text}': environment variable {name} is not set (run inside the job array, or give i/n)");
        return slash > EnvPrefix.Length ? value.Trim() + text[slash..] : value.Trim();
    }
}
