using Onnx;

namespace OnnxSteer.Graph;

/// <summary>
/// Hands out names no node, value or initializer of a model uses yet, in any of its graphs — ONNX values share one
/// namespace across a graph and the subgraphs that can see it, so a new name must be new everywhere.
/// </summary>
public sealed class UniqueNames
{
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

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
        _used.Add(name);
        return name;
    }

    /// <summary>Marks <paramref name="name"/> as used.</summary>
    public void Reserve(string name) => _used.Add(name);
}
