using Onnx;

namespace OnnxSteer.Graph;

/// <summary>A graph and where it sits: the main graph, or the body of an If/Loop/Scan node inside another graph.</summary>
/// <param name="Graph">The graph.</param>
/// <param name="Owner">The node whose attribute holds it (null for the main graph).</param>
/// <param name="Attribute">The attribute's name (then_branch, else_branch, body), or null for the main graph.</param>
/// <param name="Parent">The enclosing scope, or null for the main graph.</param>
internal sealed record GraphScope(GraphProto Graph, NodeProto? Owner, string? Attribute, GraphScope? Parent)
{
    /// <summary>0 for the main graph, 1 for a body inside it, ...</summary>
    public int Depth => Parent is null ? 0 : Parent.Depth + 1;

    /// <summary>A readable path such as <c>main/If_0.then_branch</c>.</summary>
    public string Path => Parent is null ? (Graph.Name is { Length: > 0 } n ? n : "main") : $"{Parent.Path}/{NodeLabel(Owner!)}.{Attribute}";

    internal static string NodeLabel(NodeProto node) => node.Name is { Length: > 0 } n ? n : $"{node.OpType}({string.Join(",", node.Output)})";
}

/// <summary>Subgraphs (If/Loop/Scan bodies, any graph-valued attribute) and the outer-scope values they read.</summary>
internal static class Subgraphs
{
    /// <summary>The graphs held by <paramref name="node"/>'s attributes, with the attribute names.</summary>
    public static IEnumerable<(string Attribute, GraphProto Graph)> Of(NodeProto node)
    {
        foreach (var a in node.Attribute)
        {
            if (a.G is not null) yield return (a.Name, a.G);
            foreach (var g in a.Graphs) yield return (a.Name, g);
        }
    }

    /// <summary>Every graph of the tree rooted at <paramref name="main"/>, parents before children.</summary>
    public static IEnumerable<GraphScope> Walk(GraphProto main)
    {
        var stack = new Stack<GraphScope>();
        stack.Push(new GraphScope(main, null, null, null));
        while (stack.Count > 0)
        {
            var scope = stack.Pop();
            yield return scope;
            var children = scope.Graph.Node.SelectMany(n => Of(n).Select(s => new GraphScope(s.Graph, n, s.Attribute, scope))).ToList();
            for (var i = children.Count - 1; i >= 0; i--) stack.Push(children[i]);
        }
    }

    /// <summary>Names that <paramref name="graph"/> (or a graph nested in it) reads but does not define itself:
    /// the values it takes from enclosing scopes.</summary>
    public static IReadOnlySet<string> OuterReferences(GraphProto graph)
    {
        var defined = DefinedIn(graph);
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input)
                if (input.Length > 0 && !defined.Contains(input)) result.Add(input);
            foreach (var (_, sub) in Of(node))
                foreach (var name in OuterReferences(sub))
                    if (!defined.Contains(name)) result.Add(name);
        }
        foreach (var output in graph.Output)
            if (!defined.Contains(output.Name)) result.Add(output.Name);
        return result;
    }

    /// <summary>The outer-scope values <paramref name="node"/>'s subgraphs read: its implicit inputs.</summary>
    public static IReadOnlySet<string> ImplicitInputs(NodeProto node)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, sub) in Of(node)) result.UnionWith(OuterReferences(sub));
        return result;
    }

    /// <summary>Values a graph defines itself: inputs, initializers (dense and sparse) and node outputs.</summary>
    public static HashSet<string> DefinedIn(GraphProto graph)
    {
        var defined = new HashSet<string>(StringComparer.Ordinal);
        foreach (var i in graph.Input) defined.Add(i.Name);
        foreach (var t in graph.Initializer) defined.Add(t.Name);
        foreach (var s in graph.SparseInitializer) if (s.Values is not null) defined.Add(s.Values.Name);
        foreach (var n in graph.Node)
            foreach (var o in n.Output)
                if (o.Length > 0) defined.Add(o);
        return defined;
    }

    /// <summary>Replaces reads of outer value <paramref name="from"/> by <paramref name="to"/> inside
    /// <paramref name="graph"/> and its subgraphs, stopping where a graph defines <paramref name="from"/> itself
    /// (it then shadows the outer value).</summary>
    public static int RenameOuterReads(GraphProto graph, string from, string to)
    {
        if (DefinedIn(graph).Contains(from)) return 0;
        var count = 0;
        foreach (var node in graph.Node)
        {
            for (var i = 0; i < node.Input.Count; i++)
                if (node.Input[i] == from) { node.Input[i] = to; count++; }
            foreach (var (_, sub) in Of(node)) count += RenameOuterReads(sub, from, to);
        }
        foreach (var output in graph.Output)
            if (output.Name == from) { output.Name = to; count++; }
        return count;
    }
}
