using Onnx;

namespace OnnxSteer.Diffing;

/// <summary>How the nodes of graph A correspond to those of graph B.</summary>
/// <param name="Pairs">Matched nodes, in B's order.</param>
/// <param name="ByName">Of <paramref name="Pairs"/>, those matched by an equal name (the rest matched by structure).</param>
/// <param name="OnlyA">Nodes of A with no counterpart (removed).</param>
/// <param name="OnlyB">Nodes of B with no counterpart (added).</param>
/// <param name="ValueMap">Value names of B mapped to the corresponding value names of A.</param>
internal sealed record NodeMatching(
    IReadOnlyList<(NodeProto A, NodeProto B)> Pairs,
    IReadOnlySet<NodeProto> ByName,
    IReadOnlyList<NodeProto> OnlyA,
    IReadOnlyList<NodeProto> OnlyB,
    IReadOnlyDictionary<string, string> ValueMap)
{
    /// <summary>The A-side name of B's value <paramref name="valueB"/>, or null when it has no counterpart.</summary>
    public string? MapToA(string valueB) => valueB.Length == 0 ? "" : ValueMap.GetValueOrDefault(valueB);
}

/// <summary>
/// Matches nodes of two graphs: first by equal (unique, non-empty) name, then, for the rest, by structure — same
/// domain and op type reading the same (already matched) values — repeated until nothing more matches, so a renamed
/// chain is matched from its inputs forward. Among structural candidates, one with equal attributes is preferred.
/// </summary>
internal static class NodeMatcher
{
    public static NodeMatching Match(GraphProto a, GraphProto b)
    {
        var pairs = new List<(NodeProto A, NodeProto B)>();
        var byName = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var matchedA = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var matchedB = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var map = InitialValueMap(a, b);

        void Pair(NodeProto na, NodeProto nb)
        {
            pairs.Add((na, nb));
            matchedA.Add(na);
            matchedB.Add(nb);
            for (var i = 0; i < Math.Min(na.Output.Count, nb.Output.Count); i++)
                if (na.Output[i].Length > 0 && nb.Output[i].Length > 0) map[nb.Output[i]] = na.Output[i];
        }

        var namesA = UniqueNames(a);
        foreach (var (name, nb) in UniqueNames(b))
            if (namesA.TryGetValue(name, out var na))
            {
                Pair(na, nb);
                byName.Add(nb);
            }

        for (var progress = true; progress;)
        {
            progress = false;
            var candidates = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
            foreach (var na in a.Node)
            {
                if (matchedA.Contains(na)) continue;
                var key = Key(na, na.Input);
                if (!candidates.TryGetValue(key, out var list)) candidates[key] = list = [];
                list.Add(na);
            }
            foreach (var nb in b.Node)
            {
                if (matchedB.Contains(nb)) continue;
                var mapped = nb.Input.Select(v => v.Length == 0 ? "" : map.GetValueOrDefault(v) ?? "\u0002unmatched:" + v).ToList();
                if (!candidates.TryGetValue(Key(nb, mapped), out var list) || list.Count == 0) continue;
                var na = list.FirstOrDefault(x => x.Attribute.Equals(nb.Attribute)) ?? list[0];
                list.Remove(na);
                Pair(na, nb);
                progress = true;
            }
        }

        // Keep B's order so reports read top to bottom like the graph.
        var orderB = new Dictionary<NodeProto, int>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < b.Node.Count; i++) orderB[b.Node[i]] = i;
        pairs.Sort((x, y) => orderB[x.B].CompareTo(orderB[y.B]));
        return new NodeMatching(
            pairs, byName,
            a.Node.Where(n => !matchedA.Contains(n)).ToList(),
            b.Node.Where(n => !matchedB.Contains(n)).ToList(),
            map);
    }

    /// <summary>Graph inputs and initializers that exist by the same name on both sides correspond.</summary>
    private static Dictionary<string, string> InitialValueMap(GraphProto a, GraphProto b)
    {
        var sources = new HashSet<string>(a.Input.Select(v => v.Name).Concat(a.Initializer.Select(t => t.Name)), StringComparer.Ordinal);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in b.Input.Select(v => v.Name).Concat(b.Initializer.Select(t => t.Name)))
            if (sources.Contains(name)) map[name] = name;
        return map;
    }

    private static Dictionary<string, NodeProto> UniqueNames(GraphProto g)
    {
        var seen = new Dictionary<string, NodeProto?>(StringComparer.Ordinal);
        foreach (var n in g.Node)
            if (n.Name.Length > 0) seen[n.Name] = seen.ContainsKey(n.Name) ? null : n;
        return seen.Where(kv => kv.Value is not null).ToDictionary(kv => kv.Key, kv => kv.Value!, StringComparer.Ordinal);
    }

    private static string Key(NodeProto n, IEnumerable<string> inputs) =>
        string.Join('\u0001', new[] { n.Domain is "ai.onnx" ? "" : n.Domain, n.OpType }.Concat(inputs));
}
