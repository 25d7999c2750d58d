using static OnnxSteer.ErrorText;

namespace OnnxSteer.Profiles;

/// <summary>
/// Merges profiles recorded on disjoint pair sets of the same model: counts and fixed-point sums are added as
/// integers, so the merge of the shards of a pair list equals the profile of the whole list exactly, in any order.
/// Profiles of different models, sites or methods, and overlapping shards of one source, are refused.
/// </summary>
internal static class ProfileMerger
{
    /// <summary>
    /// Merges <paramref name="profiles"/> (each with a name for messages) and re-selects units with the first
    /// profile's selection settings.
    /// </summary>
    public static SteeringProfile Merge(IReadOnlyList<(SteeringProfile Profile, string Name)> profiles)
    {
        if (profiles.Count == 0) throw new InvalidParameterException("profiles", "merge: no profiles given");
        var (first, firstName) = profiles[0];
        foreach (var (p, name) in profiles.Skip(1)) CheckCompatible(first, firstName, p, name);

        var merged = first.Clone();
        // A logistic fit is not a sum over pairs: the shards' probes cannot be combined into the fit over all pairs.
        merged.Probes = null;
        merged.Pairs = 0;
        merged.Truncated = 0;
        merged.SkippedBad = 0;
        foreach (var c in merged.Counts)
        {
            Array.Clear(c.Positive);
            Array.Clear(c.Negative);
            c.SumDiff = profiles.All(x => x.Profile.Counts.All(s => s.SumDiff is not null)) ? new long[c.Positive.Length] : null;
            // The evidence sums are kept only when every part has them (a /1 part has none): a partial sum would lie.
            var evidence = profiles.All(x => x.Profile.Counts.All(s => s.HasEvidenceSums));
            c.SumSqDiff = evidence ? new Int128[c.Positive.Length] : null;
            c.SumActivationPos = evidence ? new long[c.Positive.Length] : null;
            c.SumActivationNeg = evidence ? new long[c.Positive.Length] : null;
        }
        merged.Schema = SteeringProfile.SchemaId;

        foreach (var (p, name) in profiles)
        {
            merged.Pairs = checked(merged.Pairs + p.Pairs);
            merged.Truncated += p.Truncated;
            merged.SkippedBad += p.SkippedBad;
            for (var s = 0; s < merged.Counts.Count; s++)
            {
                var into = merged.Counts[s];
                var from = p.Counts[s];
                for (var i = 0; i < into.Positive.Length; i++)
                {
                    into.Positive[i] = checked(into.Positive[i] + from.Positive[i]);
                    into.Negative[i] = checked(into.Negative[i] + from.Negative[i]);
                    if (into.SumDiff is not null)
                    {
                        try { into.SumDiff[i] = FixedPoint.Add(into.SumDiff[i], from.SumDiff![i]); }
                        catch (OverflowException e)
                        {
                            throw new OnnxSteerException($"merge: {name}: sum of differences at {into.Site}[{i}] overflows", e);
                        }
                    }
                    if (into.SumSqDiff is not null) AddEvidenceSums(into, from, i, name);
                }
            }
        }

        var sources = profiles.Select(x => x.Profile.Source).Distinct().ToList();
        merged.Source = sources.Count == 1 ? sources[0] : string.Join(" + ", sources.Where(s => s is not null));
        merged.Shards = MergeShards(profiles, sources.Count == 1);
        return merged.Pairs > 0 && merged.Selection.Sites.Count > 0
            ? UnitSelector.Reselect(merged)
            : merged;
    }

    /// <summary>
    /// The line to print when some of <paramref name="profiles"/> carry probes: the merge drops them (exact merging is
    /// the point of sharding, and a probe is a fit, not a count).
    /// </summary>
    public static WarningText? ProbesDroppedNote(IReadOnlyList<(SteeringProfile Profile, string Name)> profiles) =>
        profiles.Any(p => p.Profile.Probes is not null) ? ProbesDropped() : null;

    private static WarningText ProbesDropped() =>
        $"the inputs' DSAS probes are not merged (a logistic fit over shards is not the fit over all pairs); for patch {Param("dynamic")}, run 'profile {Param("probes")}' unsharded over all pairs";

    private static void CheckCompatible(SteeringProfile a, string aName, SteeringProfile b, string bName)
    {
        void Refuse(string why) => throw new InvalidProfileException($"merge: {bName} cannot be merged with {aName}: {why}");
        if (a.ModelFingerprint != b.ModelFingerprint)
            Refuse($"different models (fingerprint {Short(b.ModelFingerprint)} vs {Short(a.ModelFingerprint)})");
        if (a.Method != b.Method) Refuse($"different methods ({b.Method.ToName()} vs {a.Method.ToName()})");
        if (a.Sites.Count != b.Sites.Count)
            Refuse($"different sites ({b.Sites.Count} vs {a.Sites.Count})");
        for (var i = 0; i < a.Sites.Count; i++)
        {
            ProfileSite x = a.Sites[i], y = b.Sites[i];
            if (x.Id != y.Id || x.Width != y.Width || x.Dtype != y.Dtype || x.Value != y.Value || x.ProjectionNode != y.ProjectionNode)
                Refuse($"different sites (sites[{i}] is {y.Id} width {y.Width} at '{y.Value}' vs {x.Id} width {x.Width} at '{x.Value}')");
        }
    }

    /// <summary>Adds unit <paramref name="i"/>'s sums of squares and of activations from <paramref name="from"/> into <paramref name="into"/>.</summary>
    private static void AddEvidenceSums(SiteStatistics into, SiteStatistics from, int i, string name)
    {
        try
        {
            into.SumSqDiff![i] = FixedPoint.Add(into.SumSqDiff[i], from.SumSqDiff![i]);
            into.SumActivationPos![i] = FixedPoint.Add(into.SumActivationPos[i], from.SumActivationPos![i]);
            into.SumActivationNeg![i] = FixedPoint.Add(into.SumActivationNeg[i], from.SumActivationNeg![i]);
        }
        catch (OverflowException e)
        {
            throw new OnnxSteerException($"merge: {name}: a sum of squares or activations at {into.Site}[{i}] overflows", e);
        }
    }

    private static string Short(string fingerprint) => fingerprint.Length > 19 ? fingerprint[..19] : fingerprint;

    /// <summary>
    /// The shards the merge covers; null when they add up to the whole source. Two parts of one source that
    /// overlap would count pairs twice, so they are refused.
    /// </summary>
    private static List<string>? MergeShards(IReadOnlyList<(SteeringProfile Profile, string Name)> profiles, bool sameSource)
    {
        if (!sameSource) return null;
        var covered = new Dictionary<string, string>();
        var parsed = new List<ShardSpec>();
        foreach (var (p, name) in profiles)
        {
            foreach (var text in p.Shards ?? ["0/1"])
            {
                var shard = ShardSpec.Parse(text);
                foreach (var other in parsed)
                    if (Overlap(shard, other))
                        throw new InvalidProfileException(
                            $"merge: {name} covers shard {shard} of '{p.Source}', which overlaps shard {other} from {covered[other.ToString()]}: pairs would count twice");
                parsed.Add(shard);
                covered[shard.ToString()] = name;
            }
        }
        var n = parsed[0].Count;
        if (parsed.All(s => s.Count == n) && parsed.Count == n) return null;
        return parsed.OrderBy(s => s.Count).ThenBy(s => s.Index).Select(s => s.ToString()).ToList();
    }

    // Shard i/n holds positions ≡ i (mod n); two shards share a position iff i ≡ j (mod gcd(n, m)).
    private static bool Overlap(ShardSpec a, ShardSpec b)
    {
        var g = (int)System.Numerics.BigInteger.GreatestCommonDivisor(a.Count, b.Count);
        return a.Index % g == b.Index % g;
    }
}
