using OnnxSteer.Sites;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Profiles;

/// <summary>
/// Chooses the units to steer from a profile's exact statistics, per docs/method.md:
/// r_pos = #(m &gt; 0)/N, r_neg = #(m &lt; 0)/N, score = max(r_pos, r_neg); all units of a site kind are ranked
/// together across every layer (several kinds in one list only with rankJointly, otherwise top k of each kind);
/// ties go to the lower layer, then the lower dimension (then kind order attn, mlp, mlp-out when ranked jointly);
/// gamma = alpha·r_pos when r_pos ≥ r_neg, else −alpha·r_neg. Those are the released code's rules and the defaults;
/// <see cref="TieBreak.Effect"/> orders equal scores by |effect size| first, and <see cref="DirectionRule.SignAware"/>
/// flips gamma for units whose mean activation is negative (both need the schema /2 sums).
/// Every selected unit carries its evidence (<see cref="UnitEvidence"/>): sign-test p, Bonferroni-corrected over the
/// units ranked together, effect size and mean activation per side.
/// actdiff ranks by |mean(m)| instead; random keeps k seeded-random units; caa makes alpha·mean(m) vectors.
/// </summary>
internal static class UnitSelector
{
    /// <summary>
    /// Returns a copy of <paramref name="profile"/> whose method, selection settings, units and CAA vectors are
    /// replaced by a new selection; the statistics are untouched.
    /// </summary>
    /// <param name="profile">A profile with statistics over N ≥ 1 pairs.</param>
    /// <param name="k">Units to keep (per kind unless <paramref name="rankJointly"/>); ignored by caa.</param>
    /// <param name="alpha">Global strength.</param>
    /// <param name="siteKinds">Kinds to choose from; each must be in the profile.</param>
    /// <param name="rankJointly">Rank several kinds in one list.</param>
    /// <param name="method">Selection method.</param>
    /// <param name="seed">Seed for <see cref="SteeringMethod.Random"/>.</param>
    /// <param name="layers">caa only: layers to make vectors for; null = the middle layer of each kind.</param>
    /// <param name="tieBreak">austeer only: how equal scores are ordered.</param>
    /// <param name="direction">Unit methods: how the sign of gamma is chosen.</param>
    public static SteeringProfile Select(SteeringProfile profile, int k, double alpha, IReadOnlyCollection<SiteKind> siteKinds,
        bool rankJointly, SteeringMethod method, int seed = 0, IReadOnlyList<int>? layers = null,
        TieBreak tieBreak = TieBreak.Released, DirectionRule direction = DirectionRule.Released)
    {
        if (profile.Pairs < 1) throw new InvalidProfileException("the profile holds no pairs: nothing to select from");
        if (!double.IsFinite(alpha)) throw new InvalidParameterException("alpha", $"{Param("alpha")} {alpha}: must be a finite number");
        if (method != SteeringMethod.Caa && k < 1) throw new InvalidParameterException("k", $"{Param("k")} {k}: must be at least 1");
        var kinds = siteKinds.Distinct().OrderBy(x => x).ToList();
        if (kinds.Count == 0) throw new InvalidParameterException("siteKinds", "no site kinds chosen: use attn, mlp or mlp-out");
        var recorded = profile.Sites.Select(s => s.Kind).Distinct().OrderBy(x => x).ToList();
        foreach (var kind in kinds)
            if (!recorded.Contains(kind))
                throw new InvalidParameterException("siteKinds",
                    $"the profile has no {kind.ToName()} sites (recorded: {string.Join(", ", recorded.Select(r => r.ToName()))})");
        if (method.NeedsSums() && profile.Counts.Any(c => c.SumDiff is null))
            throw new InvalidProfileException($"method {method.ToName()} needs sums of differences, which this profile lacks");
        var needsEvidence = method != SteeringMethod.Caa && (tieBreak != TieBreak.Released || direction != DirectionRule.Released);
        if (needsEvidence && profile.Counts.Any(c => !c.HasEvidenceSums))
            throw new InvalidProfileException(
                $"{Param("tieBreak")} {tieBreak.ToName()} / {Param("direction")} {direction.ToName()} need the sums of squares and activations of schema " +
                $"{SteeringProfile.SchemaId}, which this profile ({profile.Schema}) lacks: profile the pairs again");

        var result = profile.CloneWithoutSelection();
        result.Method = method;
        result.Selection = new SelectionSettings
        {
            K = k, Alpha = alpha, Sites = kinds, RankJointly = rankJointly, Seed = seed,
            Layers = method == SteeringMethod.Caa && layers is not null ? layers.ToList() : null,
            TieBreak = tieBreak, Direction = direction,
        };
        result.Units = [];
        result.Caa = [];
        if (method == SteeringMethod.Caa)
        {
            result.Caa = CaaVectors(profile, alpha, kinds, layers);
            return result;
        }

        var groups = rankJointly ? [kinds] : kinds.Select(kind => new List<SiteKind> { kind }).ToList();
        var random = new Random(seed);
        var units = new List<SelectedUnit>();
        foreach (var group in groups)
        {
            // Only the random method depends on the candidates' base order; the rankings are total orders (kind, layer
            // and index together are unique), so one array sort with a struct comparer gives the same units as a LINQ
            // multi-key sort, several times faster on models with hundreds of thousands of units (issue 9, B1).
            IEnumerable<Candidate> chosen = method switch
            {
                SteeringMethod.AuSteer when tieBreak == TieBreak.Effect => Ranked(profile, group, new ByMaxCountThenEffect(profile.Pairs), k),
                SteeringMethod.AuSteer => Ranked(profile, group, new ByMaxCount(), k),
                SteeringMethod.ActDiff => Ranked(profile, group, new ByAbsSum(), k),
                SteeringMethod.Random => RandomSubset(Candidates(profile, group), k, random).OrderBy(c => c.Kind).ThenBy(c => c.Layer).ThenBy(c => c.Index),
                _ => throw new ArgumentOutOfRangeException(nameof(method)),
            };
            var family = (int)Math.Min(int.MaxValue, profile.Sites.Where(s => group.Contains(s.Kind)).Sum(s => (long)s.Width));
            units.AddRange(chosen.Select(c => ToUnit(c, profile.Pairs, alpha, method, direction, family)));
        }
        result.Units = units;
        return result;
    }

    /// <summary>Re-selects with the settings already stored in the profile (e.g. after a merge).</summary>
    public static SteeringProfile Reselect(SteeringProfile profile) => Reselect(profile, profile.Selection.K, profile.Selection.Alpha);

    /// <summary>
    /// Re-selects at another <paramref name="k"/>, <paramref name="alpha"/> and (when given) site kinds, keeping every other
    /// rule stored in the profile: method, joint ranking, seed, caa layers, tie-break and direction.
    /// </summary>
    public static SteeringProfile Reselect(SteeringProfile profile, int k, double alpha, IReadOnlyCollection<SiteKind>? siteKinds = null)
    {
        var s = profile.Selection;
        var kinds = siteKinds ?? (s.Sites.Count > 0 ? s.Sites : profile.Sites.Select(x => x.Kind).Distinct().ToList());
        return Select(profile, k, alpha, kinds, s.RankJointly, profile.Method, s.Seed, s.Layers, s.TieBreak, s.Direction);
    }

    /// <summary>
    /// A note when <paramref name="k"/> asks for more units than a ranked list holds (the whole list is then taken): one
    /// per list, none when k fits. Lists are one per site kind, or one for all kinds with <paramref name="jointly"/>.
    /// </summary>
    public static IEnumerable<ErrorText> KBeyondUnits(SteeringProfile profile, int k, IReadOnlyCollection<SiteKind> kinds, bool jointly)
    {
        if (profile.Method == SteeringMethod.Caa) yield break;
        var groups = jointly ? [kinds.ToList()] : kinds.Select(kind => new List<SiteKind> { kind }).ToList();
        foreach (var group in groups)
        {
            var units = profile.Sites.Where(s => group.Contains(s.Kind)).Sum(s => (long)s.Width);
            if (k > units)
                yield return $"{Param("k")} {k} is more than the {units} {string.Join("+", group.Select(g => g.ToName()))} units the profile has: all {units} are selected";
        }
    }

    /// <summary>gamma for a unit with <paramref name="pos"/> positive and <paramref name="neg"/> negative momenta of N pairs.</summary>
    public static double Gamma(int pos, int neg, int pairs, double alpha) =>
        pos >= neg ? alpha * ((double)pos / pairs) : -alpha * ((double)neg / pairs);

    /// <summary>The sign-aware gamma: the released gamma, negated when the mean activation over both sides is negative
    /// (<paramref name="activationSign"/> &lt; 0), so that gamma·x points from the negative side towards the positive.</summary>
    public static double SignAwareGamma(int pos, int neg, int pairs, double alpha, int activationSign) =>
        activationSign < 0 ? -Gamma(pos, neg, pairs, alpha) : Gamma(pos, neg, pairs, alpha);

    // One unit's statistics; the evidence sums are 0 (and HasSums false) when the profile lacks them (schema /1).
    private readonly record struct Candidate(SiteKind Kind, string Site, int Layer, int Index, int Pos, int Neg, long Sum,
        Int128 SumSq, long ActPos, long ActNeg, bool HasSums)
    {
        public int MaxCount => Math.Max(Pos, Neg);
        public int ActivationSign => HasSums ? ((Int128)ActPos + ActNeg).CompareTo(Int128.Zero) : 0;
    }

    /// <summary>The first <paramref name="k"/> candidates in <paramref name="order"/>, in that order. For k much smaller
    /// than the candidates a bounded heap keeps the k best (O(n log k)); otherwise the whole array is sorted.</summary>
    private static Candidate[] Ranked<TOrder>(SteeringProfile profile, IReadOnlyCollection<SiteKind> kinds, TOrder order, int k)
        where TOrder : struct, IComparer<Candidate>
    {
        Candidate[] best;
        var count = profile.Sites.Where(s => kinds.Contains(s.Kind)).Sum(s => (long)s.Width);
        var candidates = EnumerateCandidates(profile, kinds);
        if ((long)k * 8 < count)
        {
            // No list of all candidates is built: on a 7B model that is ~600k entries, tens of MB to allocate and fault in.
            // The heap's root is the worst of the k kept so far (reversed order); a candidate enters only if it beats it.
            var heap = new PriorityQueue<Candidate, Candidate>(k + 1, Comparer<Candidate>.Create((a, b) => order.Compare(b, a)));
            foreach (var c in candidates)
            {
                if (heap.Count < k) heap.Enqueue(c, c);
                else if (order.Compare(c, heap.Peek()) < 0) heap.EnqueueDequeue(c, c);
            }
            best = heap.UnorderedItems.Select(e => e.Element).ToArray();
        }
        else best = candidates.ToArray();
        Array.Sort(best, order);
        return best.Length > k ? best[..k] : best;
    }

    /// <summary>AuSteer's ranking: most momenta first, then layer, index, kind.</summary>
    private readonly struct ByMaxCount : IComparer<Candidate>
    {
        public int Compare(Candidate a, Candidate b)
        {
            var c = b.MaxCount.CompareTo(a.MaxCount);
            return c != 0 ? c : Tie(a, b);
        }
    }

    /// <summary>AuSteer with the evidence tie-break: most momenta first, then larger |effect size|, then layer, index, kind.
    /// The effect is computed in the comparison (a few flops) rather than stored, to keep candidates small.</summary>
    private readonly struct ByMaxCountThenEffect(int pairs) : IComparer<Candidate>
    {
        public int Compare(Candidate a, Candidate b)
        {
            var c = b.MaxCount.CompareTo(a.MaxCount);
            if (c != 0) return c;
            c = Effect(b).CompareTo(Effect(a));
            return c != 0 ? c : Tie(a, b);
        }

        private double Effect(Candidate x) => UnitEvidence.RankingEffect(x.Sum, x.SumSq, pairs);
    }

    /// <summary>ActDiff's ranking: largest |sum of differences| first, then layer, index, kind.</summary>
    private readonly struct ByAbsSum : IComparer<Candidate>
    {
        public int Compare(Candidate a, Candidate b)
        {
            var c = AbsSum(b.Sum).CompareTo(AbsSum(a.Sum));
            return c != 0 ? c : Tie(a, b);
        }
    }

    private static int Tie(Candidate a, Candidate b)
    {
        var c = a.Layer.CompareTo(b.Layer);
        if (c != 0) return c;
        c = a.Index.CompareTo(b.Index);
        return c != 0 ? c : ((int)a.Kind).CompareTo((int)b.Kind);
    }

    private static IEnumerable<Candidate> EnumerateCandidates(SteeringProfile profile, IReadOnlyCollection<SiteKind> kinds)
    {
        for (var s = 0; s < profile.Sites.Count; s++)
        {
            var site = profile.Sites[s];
            if (!kinds.Contains(site.Kind)) continue;
            var c = profile.Counts[s];
            for (var i = 0; i < site.Width; i++)
            {
                var sums = c.HasEvidenceSums;
                yield return new Candidate(site.Kind, site.Id, site.Layer, i, c.Positive[i], c.Negative[i], c.SumDiff?[i] ?? 0,
                    sums ? c.SumSqDiff![i] : 0, sums ? c.SumActivationPos![i] : 0, sums ? c.SumActivationNeg![i] : 0, sums);
            }
        }
    }

    private static List<Candidate> Candidates(SteeringProfile profile, IReadOnlyCollection<SiteKind> kinds)
    {
        var list = EnumerateCandidates(profile, kinds).ToList();
        // A fixed base order so that seeded random choices do not depend on the order sites are stored in.
        list.Sort((a, b) => (a.Kind, a.Layer, a.Index).CompareTo((b.Kind, b.Layer, b.Index)));
        return list;
    }

    // |long.MinValue| does not fit in a long; as a UInt128 every magnitude is exact.
    private static UInt128 AbsSum(long sum) => sum < 0 ? (UInt128)(-(Int128)sum) : (UInt128)sum;

    private static IEnumerable<Candidate> RandomSubset(List<Candidate> candidates, int k, Random random)
    {
        var pool = candidates.ToArray();
        var take = Math.Min(k, pool.Length);
        for (var i = 0; i < take; i++)
        {
            var j = random.Next(i, pool.Length);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        return pool.Take(take);
    }

    private static SelectedUnit ToUnit(Candidate c, int pairs, double alpha, SteeringMethod method, DirectionRule direction, int family)
    {
        double rPos = (double)c.Pos / pairs, rNeg = (double)c.Neg / pairs;
        var p = UnitEvidence.SignTestP(c.Pos, c.Neg);
        return new SelectedUnit
        {
            Site = c.Site,
            Layer = c.Layer,
            Index = c.Index,
            RPos = rPos,
            RNeg = rNeg,
            Score = method == SteeringMethod.ActDiff ? (double)AbsSum(c.Sum) / FixedPoint.Scale / pairs : Math.Max(rPos, rNeg),
            Gamma = direction == DirectionRule.SignAware
                ? SignAwareGamma(c.Pos, c.Neg, pairs, alpha, c.ActivationSign)
                : Gamma(c.Pos, c.Neg, pairs, alpha),
            P = p,
            PAdjusted = UnitEvidence.Bonferroni(p, family),
            Ranked = family,
            EffectSize = c.HasSums ? UnitEvidence.EffectSize(c.Sum, c.SumSq, pairs) : null,
            MeanPos = c.HasSums ? UnitEvidence.Mean(c.ActPos, pairs) : null,
            MeanNeg = c.HasSums ? UnitEvidence.Mean(c.ActNeg, pairs) : null,
        };
    }

    private static List<CaaVector> CaaVectors(SteeringProfile profile, double alpha, List<SiteKind> kinds, IReadOnlyList<int>? layers)
    {
        var vectors = new List<CaaVector>();
        foreach (var kind in kinds)
        {
            var sites = profile.Sites.Select((site, s) => (site, s)).Where(x => x.site.Kind == kind).ToList();
            var maxLayer = sites.Max(x => x.site.Layer);
            var wanted = layers ?? [(maxLayer + 1) / 2];
            foreach (var layer in wanted)
            {
                var hit = sites.Where(x => x.site.Layer == layer).ToList();
                if (hit.Count == 0)
                    throw new InvalidParameterException("layers", $"{Param("layers")} {layer}: the profile has no {kind.ToName()} site at layer {layer} (layers 0..{maxLayer})");
                var (site, s) = hit[0];
                var sum = profile.Counts[s].SumDiff!;
                var v = new float[site.Width];
                for (var i = 0; i < v.Length; i++) v[i] = (float)(alpha * (FixedPoint.ToDouble(sum[i]) / profile.Pairs));
                vectors.Add(new CaaVector { Site = site.Id, Layer = site.Layer, Vector = v });
            }
        }
        return vectors;
    }
}
