using Onnx;

namespace OnnxSteer.Graph;

/// <summary>
/// Hands out names no node, value or initializer of a model uses yet, in any of its graphs — ONNX values share one
/// namespace across a graph and the subgraphs that can see it, so a new name must be new everywhere.
/// </summary>
internal sealed class UniqueNames
{
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    // Every leading part of a used name that ends before a '/' or '.', built on the first FreePrefix.
    private HashSet<string>? _prefixes;

    /// <summary>Collects the names of <paramref name="graph"/> and all its subgraphs.</summary>
    public UniqueNames(GraphProto graph)
    {
        foreach (var scope in Subgraphs.Walk(graph))
        {
            var g = scope.Graph;
            foreach (var n in g.Node)
            {
                if (n.Name.Length > 0) _used.Add(n.Name);
                _used.UnionWith(n.Input);
                _used.UnionWith(n.Output);
            }
            foreach (var t in g.Initializer) _used.Add(t.Name);
            foreach (var s in g.SparseInitializer) if (s.Values is not null) _used.Add(s.Values.Name);
            foreach (var v in g.Input.Concat(g.Output).Concat(g.ValueInfo)) _used.Add(v.Name);
        }
    }

    /// <summary>True when something already uses <paramref name="name"/>.</summary>
    public bool IsUsed(string name) => _used.Contains(name);

    /// <summary><paramref name="stem"/> if free, else stem_1, stem_2, ...; the name returned is reserved.</summary>
    public string Fresh(string stem)
    {
        var name = stem;
        for (var i = 1; _used.Contains(name); i++) name = $"{stem}_{i}";
        Reserve(name);
        return name;
    }

    /// <summary>Marks <paramref name="name"/> as used.</summary>
    public void Reserve(string name)
    {
        if (_used.Add(name) && _prefixes is not null) AddPrefixes(name);
    }

    /// <summary>
    /// <paramref name="prefix"/> if no name is it or starts with it followed by '/' or '.', else the first free of
    /// prefix_2, prefix_3, ... (so a second steering of the same projection reads <c>…/steer_2</c>). Every name
    /// under the prefix returned (<c>prefix/…</c>, <c>prefix.…</c>) is then free; the prefix itself is reserved.
    /// </summary>
    public string FreePrefix(string prefix)
    {
        if (_prefixes is null)
        {
            _prefixes = new HashSet<string>(StringComparer.Ordinal);
            foreach (var name in _used) AddPrefixes(name);
        }
        var free = prefix;
        for (var i = 2; _used.Contains(free) || _prefixes.Contains(free); i++) free = $"{prefix}_{i}";
        Reserve(free);
        return free;
    }

    private void AddPrefixes(string name)
    {
        for (var i = name.IndexOfAny(Separators); i >= 0; i = name.IndexOfAny(Separators, i + 1))
            _prefixes!.Add(name[..i]);
    }

    private static readonly char[] Separators = ['/', '.'];
}
