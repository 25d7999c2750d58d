using Onnx;

namespace OnnxSteer.Graph;

/// <summary>
/// The one way onnxsteer edits a graph (patch, unpatch, switches, gates, folds, activation taps): add and remove
/// initializers, graph inputs and outputs and nodes, insert a node on an edge so that exactly the chosen readers see its
/// output, and rename a value at its producer or at its readers. Names come from a <see cref="UniqueNames"/> that covers
/// the whole model, so new names never collide with subgraph names; lookups go through an <see cref="Index"/> the
/// editor keeps current, so no edit scans the graph for a name. Validate with <see cref="GraphValidator"/> afterwards.
/// </summary>
internal sealed class GraphEditor
{
    /// <summary>The graph being edited (changed in place). Change it only through this editor while the editor is in use.</summary>
    public GraphProto Graph { get; }

    /// <summary>The name pool; shared with other editors of the same model to keep names unique across graphs.</summary>
    public UniqueNames Names { get; }

    /// <summary>Producers, readers, nodes and initializers by name, kept current by every edit.</summary>
    public GraphIndex Index { get; }

    /// <summary>Edits <paramref name="graph"/>; <paramref name="names"/> defaults to the names of the graph and its subgraphs.</summary>
    public GraphEditor(GraphProto graph, UniqueNames? names = null)
    {
        Graph = graph;
        Names = names ?? new UniqueNames(graph);
        Index = new GraphIndex(graph);
    }

    /// <summary>The node named <paramref name="name"/>, or null.</summary>
    public NodeProto? Node(string name) => Index.Node(name);

    /// <summary>Adds <paramref name="tensor"/> as an initializer, renamed to a fresh name if its name is taken; returns the name.</summary>
    public string AddInitializer(TensorProto tensor)
    {
        tensor.Name = Names.Fresh(string.IsNullOrEmpty(tensor.Name) ? "initializer" : tensor.Name);
        Graph.Initializer.Add(tensor);
        Index.InitializerSet(tensor);
        return tensor.Name;
    }

    /// <summary>
    /// Puts <paramref name="tensor"/> under its own name: it replaces the initializer of that name where that one
    /// stands (a fold, or undoing one), or is appended when there is none. True when it replaced one.
    /// </summary>
    public bool SetInitializer(TensorProto tensor)
    {
        var old = Index.Initializer(tensor.Name);
        if (old is not null) Graph.Initializer[PositionIn(Graph.Initializer, old)] = tensor;
        else Graph.Initializer.Add(tensor);
        Names.Reserve(tensor.Name);
        Index.InitializerSet(tensor);
        return old is not null;
    }

    /// <summary>Removes the initializer named <paramref name="name"/>; false when there is none.</summary>
    public bool RemoveInitializer(string name)
    {
        if (Index.Initializer(name) is not { } tensor) return false;
        Graph.Initializer.RemoveAt(PositionIn(Graph.Initializer, tensor));
        Index.InitializerRemoved(name);
        return true;
    }

    /// <summary>Lists <paramref name="input"/> as a graph input (after the others), under its own name.</summary>
    public void AddGraphInput(ValueInfoProto input)
    {
        Graph.Input.Add(input);
        Names.Reserve(input.Name);
        Index.GraphInputAdded(input);
    }

    /// <summary>Removes the graph input named <paramref name="name"/>; false when there is none.</summary>
    public bool RemoveGraphInput(string name) => RemoveValue(Graph.Input, name, Index.GraphInputRemoved);

    /// <summary>Lists <paramref name="output"/> as a graph output (after the others), under its own name.</summary>
    public void AddGraphOutput(ValueInfoProto output)
    {
        Graph.Output.Add(output);
        Names.Reserve(output.Name);
        Index.GraphOutputAdded(output);
    }

    /// <summary>Removes the graph output named <paramref name="name"/> (the value stays); false when there is none.</summary>
    public bool RemoveGraphOutput(string name) => RemoveValue(Graph.Output, name, Index.GraphOutputRemoved);

    /// <summary>
    /// A new node of <paramref name="opType"/> with a fresh name from <paramref name="nameStem"/> and fresh output
    /// names (<c>name/output_0</c>, ...). It is not yet in the graph: pass it to <see cref="InsertOnEdge"/>,
    /// <see cref="AddNode"/>, <see cref="AppendNode"/>, <see cref="InsertBefore"/> or <see cref="InsertAfter"/>.
    /// </summary>
    public NodeProto NewNode(string opType, string nameStem, IEnumerable<string> inputs, int outputs = 1, string domain = "")
    {
        var node = new NodeProto { OpType = opType, Name = Names.Fresh(nameStem) };
        // onnx.proto is proto2: an explicit "" would be written out; the default domain is better left unset.
        if (domain.Length > 0) node.Domain = domain;
        node.Input.Add(inputs);
        for (var i = 0; i < outputs; i++) node.Output.Add(Names.Fresh($"{node.Name}/output_{i}"));
        return node;
    }

    /// <summary>Like <see cref="NewNode(string, string, IEnumerable{string}, int, string)"/>, with one output per
    /// stem in <paramref name="outputStems"/>, each a fresh name from its stem.</summary>
    public NodeProto NewNode(string opType, string nameStem, IEnumerable<string> inputs, IEnumerable<string> outputStems, string domain = "")
    {
        var node = NewNode(opType, nameStem, inputs, 0, domain);
        foreach (var stem in outputStems) node.Output.Add(Names.Fresh(stem));
        return node;
    }

    /// <summary>Adds <paramref name="node"/> right after the last producer of its inputs, keeping the list sorted.</summary>
    public void AddNode(NodeProto node) => Insert(LastProducerPosition(node) + 1, node);

    /// <summary>Adds <paramref name="node"/> at the end of the list (sorted when the list was: its inputs come earlier).</summary>
    public void AppendNode(NodeProto node) => Insert(Graph.Node.Count, node);

    /// <summary>Inserts <paramref name="nodes"/>, in order, right before <paramref name="anchor"/>.</summary>
    public void InsertBefore(NodeProto anchor, params NodeProto[] nodes)
    {
        var at = PositionOf(anchor);
        foreach (var node in nodes) Insert(at++, node);
    }

    /// <summary>Inserts <paramref name="nodes"/>, in order, right after <paramref name="anchor"/>.</summary>
    public void InsertAfter(NodeProto anchor, params NodeProto[] nodes)
    {
        var at = PositionOf(anchor) + 1;
        foreach (var node in nodes) Insert(at++, node);
    }

    /// <summary>
    /// Appends an output with a fresh name from <paramref name="stem"/> to <paramref name="node"/> (an If whose branches
    /// were each given one more output, say) and returns the name.
    /// </summary>
    internal string AddOutput(NodeProto node, string stem)
    {
        var name = Names.Fresh(stem);
        node.Output.Add(name);
        Index.OutputRenamed(node, name, name);
        return name;
    }

    /// <summary>Removes <paramref name="node"/> (this very object); its outputs are then produced by nothing.</summary>
    public void RemoveNode(NodeProto node)
    {
        Graph.Node.RemoveAt(PositionOf(node));
        Index.NodeRemoved(node);
    }

    /// <summary>
    /// Keeps only what computing <paramref name="values"/> needs: the nodes that produce them, directly or through other
    /// kept nodes (subgraph reads included), and the initializers and graph inputs those nodes read. Every other node,
    /// initializer and graph input goes, so a runtime neither computes nor loads it. Returns the number of nodes removed.
    /// </summary>
    internal int KeepOnlyWhatComputes(IEnumerable<string> values)
    {
        var read = new HashSet<string>(StringComparer.Ordinal);
        var kept = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var pending = new Stack<string>(values);
        while (pending.Count > 0)
        {
            var value = pending.Pop();
            if (value.Length == 0 || !read.Add(value)) continue;
            if (Index.Producer(value) is not { } producer || !kept.Add(producer)) continue;
            foreach (var input in producer.Input.Concat(Subgraphs.ImplicitInputs(producer))) pending.Push(input);
        }
        var before = Graph.Node.Count;
        var survivors = Graph.Node.Where(kept.Contains).ToList();
        if (survivors.Count < before)
        {
            foreach (var node in Graph.Node.Where(n => !kept.Contains(n)).ToList()) Index.NodeRemoved(node);
            Graph.Node.Clear();
            Graph.Node.Add(survivors);
        }
        foreach (var tensor in Graph.Initializer.Where(t => !read.Contains(t.Name)).Select(t => t.Name).ToList()) RemoveInitializer(tensor);
        foreach (var input in Graph.Input.Where(i => !read.Contains(i.Name)).Select(i => i.Name).ToList()) RemoveGraphInput(input);
        return before - survivors.Count;
    }

    /// <summary>
    /// The producer of <paramref name="value"/> writes <paramref name="newName"/> instead; readers keep reading
    /// <paramref name="value"/>, which nothing produces until a node that writes it is added. Returns the producer.
    /// </summary>
    public NodeProto RenameOutput(string value, string newName)
    {
        var producer = Index.Producer(value) ?? throw new ArgumentException($"no node of this graph produces '{value}'", nameof(value));
        for (var i = 0; i < producer.Output.Count; i++)
            if (producer.Output[i] == value) producer.Output[i] = newName;
        Names.Reserve(newName);
        Index.OutputRenamed(producer, value, newName);
        return producer;
    }

    /// <summary>
    /// Every reader of <paramref name="from"/> in this graph, and every subgraph that reads it from this scope, reads
    /// <paramref name="to"/> instead (graph outputs are left alone). Returns the number of reads changed.
    /// </summary>
    public int RenameUses(string from, string to)
    {
        var count = 0;
        foreach (var reader in Index.Consumers(from).ToList()) count += RenameInput(reader, from, to);
        var holders = Index.SubgraphConsumers(from);
        foreach (var holder in holders)
            foreach (var (_, sub) in Subgraphs.Of(holder)) count += Subgraphs.RenameOuterReads(sub, from, to);
        if (holders.Count > 0) Index.SubgraphReadsChanged();
        Names.Reserve(to);
        return count;
    }

    /// <summary>
    /// Inserts <paramref name="node"/> on the edge that carries <paramref name="value"/>. The node must read
    /// <paramref name="value"/> and have one output. Afterwards the chosen <paramref name="consumers"/> (nodes of this
    /// graph that read the value) read the node's output instead, and so does the graph output named
    /// <paramref name="value"/> when <paramref name="graphOutput"/> is true; every other reader is untouched. The node
    /// goes right before the first chosen reader when its inputs are ready there, else after its inputs' producers.
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
        var chosen = consumers.ToHashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var direct = Index.Consumers(value).ToList();
        foreach (var c in chosen)
            if (!direct.Any(d => ReferenceEquals(d, c)))
                throw new ArgumentException($"node '{GraphScope.NodeLabel(c)}' is not a reader of '{value}' in this graph");
        if (graphOutput && !Index.IsGraphOutput(value))
            throw new ArgumentException($"'{value}' is not a graph output");
        var readers = chosen.ToList();

        if (!graphOutput)
        {
            foreach (var c in readers) RenameInput(c, value, node.Output[0]);
            AddBefore(node, readers, value);
            return;
        }

        if (Index.Producer(value) is null)
            throw new ArgumentException($"'{value}' is a graph input or initializer; a node cannot be inserted before a graph output that is not produced by a node");
        var before = Names.Fresh($"{value}/before_{node.OpType}");
        var holders = Index.SubgraphConsumers(value).Where(h => !chosen.Contains(h)).ToList();
        RenameOutput(value, before);
        for (var i = 0; i < node.Input.Count; i++)
            if (node.Input[i] == value) node.Input[i] = before;
        foreach (var other in direct.Where(c => !chosen.Contains(c) && !ReferenceEquals(c, node))) RenameInput(other, value, before);
        foreach (var holder in holders)
            foreach (var (_, sub) in Subgraphs.Of(holder)) Subgraphs.RenameOuterReads(sub, value, before);
        if (holders.Count > 0) Index.SubgraphReadsChanged();
        node.Output[0] = value;
        foreach (var vi in Graph.ValueInfo.Where(v => v.Name == value).ToList())
        {
            var copy = new ValueInfoProto(vi) { Name = before };
            Graph.ValueInfo.Add(copy);
            Index.ValueInfoAdded(copy);
        }
        AddBefore(node, readers, before);
    }

    /// <summary>
    /// Right before the first of <paramref name="readers"/>, where a hand-written graph puts it, when the node's other
    /// inputs are produced earlier (whether <paramref name="edge"/>'s producer precedes its readers is the graph's own
    /// order, unchanged by the insert); otherwise after all its inputs' producers, re-sorting if a reader came earlier.
    /// </summary>
    private void AddBefore(NodeProto node, List<NodeProto> readers, string edge)
    {
        var first = readers.Count == 0 ? -1 : readers.Min(PositionOf);
        if (first >= 0 && LastProducerPosition(node, except: edge) < first)
        {
            Insert(first, node);
            return;
        }
        AddNode(node);
        if (readers.Count > 0) TopologicalOrder.SortInPlace(Graph);
    }

    private void Insert(int position, NodeProto node)
    {
        foreach (var o in node.Output) Names.Reserve(o);
        if (node.Name.Length > 0) Names.Reserve(node.Name);
        Graph.Node.Insert(position, node);
        Index.NodeAdded(node);
    }

    private int RenameInput(NodeProto reader, string from, string to)
    {
        var count = 0;
        for (var i = 0; i < reader.Input.Count; i++)
            if (reader.Input[i] == from) { reader.Input[i] = to; count++; }
        if (count > 0) Index.InputRenamed(reader, from, to);
        return count;
    }

    /// <summary>Position of the last node producing one of <paramref name="node"/>'s inputs (subgraph reads included,
    /// <paramref name="except"/> left out); -1 when none does.</summary>
    private int LastProducerPosition(NodeProto node, string? except = null)
    {
        var producers = node.Input.Concat(Subgraphs.ImplicitInputs(node))
            .Where(n => n.Length > 0 && n != except)
            .Select(Index.Producer)
            .OfType<NodeProto>()
            .ToHashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        if (producers.Count == 0) return -1;
        for (var i = Graph.Node.Count - 1; i >= 0; i--)
            if (producers.Contains(Graph.Node[i])) return i;
        return -1;
    }

    private int PositionOf(NodeProto node)
    {
        var at = Index.PositionOf(node);
        return at >= 0 ? at : throw new ArgumentException($"node '{GraphScope.NodeLabel(node)}' is not in this graph", nameof(node));
    }

    // Positions are found by reference: protobuf messages compare by value, and the list is an array that an insert
    // or removal shifts anyway.
    private static int PositionIn<T>(IList<T> list, T item) where T : class
    {
        for (var i = 0; i < list.Count; i++)
            if (ReferenceEquals(list[i], item)) return i;
        return -1;
    }

    private static bool RemoveValue(IList<ValueInfoProto> list, string name, Action<string> reindex)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i].Name != name) continue;
            list.RemoveAt(i);
            reindex(name);
            return true;
        }
        return false;
    }
}
