using Onnx;

namespace OnnxSteer.Graph;

/// <summary>
/// Small, checked edits of one graph: add initializers and nodes under fresh names, and insert a node on an edge
/// so that exactly the chosen readers see its output. Names come from a <see cref="UniqueNames"/> that covers the
/// whole model, so edits never collide with subgraph names. Validate with <see cref="GraphValidator"/> afterwards.
/// </summary>
public sealed class GraphEditor
{
    /// <summary>The graph being edited (changed in place).</summary>
    public GraphProto Graph { get; }

    /// <summary>The name pool; shared with other editors of the same model to keep names unique across graphs.</summary>
    public UniqueNames Names { get; }

    /// <summary>Edits <paramref name="graph"/>; <paramref name="names"/> defaults to the graph's own names.</summary>
    public GraphEditor(GraphProto graph, UniqueNames? names = null)
    {
        Graph = graph;
        Names = names ?? new UniqueNames(graph);
    }

    /// <summary>Adds <paramref name="tensor"/> as an initializer, renamed to a fresh name if its name is taken; returns the name.</summary>
    public string AddInitializer(TensorProto tensor)
    {
        tensor.Name = Names.Fresh(string.IsNullOrEmpty(tensor.Name) ? "initializer" : tensor.Name);
        Graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>
    /// A new node of <paramref name="opType"/> with a fresh name from <paramref name="nameStem"/> and fresh output
    /// names (<c>name/output_0</c>, ...). It is not yet in the graph: pass it to <see cref="InsertOnEdge"/> or
    /// <see cref="AddNode"/>.
    /// </summary>
    public NodeProto NewNode(string opType, string nameStem, IEnumerable<string> inputs, int outputs = 1, string domain = "")
    {
        var node = new NodeProto { OpType = opType, Name = Names.Fresh(nameStem), Domain = domain };
        node.Input.Add(inputs);
        for (var i = 0; i < outputs; i++) node.Output.Add(Names.Fresh($"{node.Name}/output_{i}"));
        return node;
    }

    /// <summary>Adds <paramref name="node"/> right after the last producer of its inputs, keeping the list sorted.</summary>
    public void AddNode(NodeProto node)
    {
        foreach (var o in node.Output) Names.Reserve(o);
        if (node.Name.Length > 0) Names.Reserve(node.Name);
        Graph.Node.Insert(InsertPosition(node), node);
    }

    /// <summary>
    /// Inserts <paramref name="node"/> on the edge that carries <paramref name="value"/>. The node must read
    /// <paramref name="value"/> and have one output. Afterwards the chosen <paramref name="consumers"/> (nodes of this
    /// graph that read the value) read the node's output instead, and so does the graph output named
    /// <paramref name="value"/> when <paramref name="graphOutput"/> is true; every other reader is untouched.
    /// </summary>
    /// <remarks>
    /// Rewiring a graph output keeps the model's interface: the producer's output is renamed to a fresh name and the
    /// node writes <paramref name="value"/> itself; readers that were not chosen (subgraph readers included) are
    /// moved to the fresh name.
    /// </remarks>
    public void InsertOnEdge(string value, NodeProto node, IEnumerable<NodeProto> consumers, bool graphOutput = false)
    {
        if (!node.Input.Contains(value)) throw new ArgumentException($"node '{node.Name}' does not read '{value}'");
        if (node.Output.Count != 1) throw new ArgumentException($"node '{node.Name}' must have exactly one output, not {node.Output.Count}");
        var chosen = consumers.ToList();
        var index = new GraphIndex(Graph);
        var direct = index.Consumers(value);
        foreach (var c in chosen)
            if (!direct.Contains(c))
                throw new ArgumentException($"node '{GraphScope.NodeLabel(c)}' is not a reader of '{value}' in this graph");
        if (graphOutput && !index.IsGraphOutput(value))
            throw new ArgumentException($"'{value}' is not a graph output");

        if (!graphOutput)
        {
            foreach (var c in chosen) Rewire(c, value, node.Output[0]);
            AddNode(node);
            KeepSorted(node, chosen);
            return;
        }

        var producer = index.Producer(value)
            ?? throw new ArgumentException($"'{value}' is a graph input or initializer; a node cannot be inserted before a graph output that is not produced by a node");
        var before = Names.Fresh($"{value}/before_{node.OpType}");
        for (var i = 0; i < producer.Output.Count; i++)
            if (producer.Output[i] == value) producer.Output[i] = before;
        for (var i = 0; i < node.Input.Count; i++)
            if (node.Input[i] == value) node.Input[i] = before;
        foreach (var other in direct.Where(c => !chosen.Contains(c) && c != node)) Rewire(other, value, before);
        foreach (var holder in index.SubgraphConsumers(value).Where(c => !chosen.Contains(c)))
            foreach (var (_, sub) in Subgraphs.Of(holder)) Subgraphs.RenameOuterReads(sub, value, before);
        node.Output[0] = value;
        foreach (var vi in Graph.ValueInfo.Where(v => v.Name == value).ToList()) Graph.ValueInfo.Add(new ValueInfoProto(vi) { Name = before });
        AddNode(node);
        KeepSorted(node, chosen);
    }

    /// <summary>The node goes after its inputs' producers; if another input comes later than a rewired reader, re-sort.</summary>
    private void KeepSorted(NodeProto node, List<NodeProto> readers)
    {
        var at = Graph.Node.IndexOf(node);
        if (readers.Any(r => Graph.Node.IndexOf(r) < at)) TopologicalOrder.SortInPlace(Graph);
    }

    private static void Rewire(NodeProto consumer, string from, string to)
    {
        for (var i = 0; i < consumer.Input.Count; i++)
            if (consumer.Input[i] == from) consumer.Input[i] = to;
    }

    /// <summary>Just after the last node producing one of <paramref name="node"/>'s inputs (0 when none does).</summary>
    private int InsertPosition(NodeProto node)
    {
        var needed = node.Input.Concat(Subgraphs.ImplicitInputs(node)).Where(n => n.Length > 0).ToHashSet(StringComparer.Ordinal);
        var position = 0;
        for (var i = 0; i < Graph.Node.Count; i++)
            if (Graph.Node[i].Output.Any(needed.Contains)) position = i + 1;
        return position;
    }
}
