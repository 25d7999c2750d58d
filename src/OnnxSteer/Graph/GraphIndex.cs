using Onnx;

namespace OnnxSteer.Graph;

/// <summary>
/// Lookups over one graph by name: who produces each value, who consumes it, nodes, initializers, graph inputs and
/// outputs, and declared types. A <see cref="GraphEditor"/> keeps its own index current as it edits; an index built
/// directly must be rebuilt after the graph is changed by other means. A null name finds nothing (a steering record
/// read from a file may lack one).
/// </summary>
internal sealed class GraphIndex
{
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<NodeProto>> _consumers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ValueInfoProto> _inputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ValueInfoProto> _outputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ValueInfoProto> _valueInfos = new(StringComparer.Ordinal);
    // A list per name, not one node: names need not be unique, and removing one node must not lose another of that name.
    private readonly Dictionary<string, List<NodeProto>> _byName = new(StringComparer.Ordinal);
    private Dictionary<NodeProto, IReadOnlySet<string>>? _implicitInputs;

    /// <summary>The graph indexed.</summary>
    public GraphProto Graph { get; }

    /// <summary>Indexes <paramref name="graph"/> (its own nodes; subgraph readers under <see cref="SubgraphConsumers"/>).</summary>
    public GraphIndex(GraphProto graph)
    {
        Graph = graph;
        foreach (var init in graph.Initializer) _initializers[init.Name] = init;
        foreach (var vi in graph.Input) _inputs.TryAdd(vi.Name, vi);
        foreach (var vi in graph.Output) _outputs.TryAdd(vi.Name, vi);
        foreach (var vi in graph.ValueInfo) _valueInfos.TryAdd(vi.Name, vi);
        foreach (var node in graph.Node) NodeAdded(node);
    }

    /// <summary>The node that produces <paramref name="value"/>, or null for graph inputs and initializers.</summary>
    public NodeProto? Producer(string value) => value is null ? null : _producers.GetValueOrDefault(value);

    /// <summary>The nodes of this graph that read <paramref name="value"/> (not those in subgraphs).</summary>
    public IReadOnlyList<NodeProto> Consumers(string value) =>
        _consumers.TryGetValue(value, out var list) ? list : [];

    /// <summary>The initializer named <paramref name="name"/>, or null.</summary>
    public TensorProto? Initializer(string name) => name is null ? null : _initializers.GetValueOrDefault(name);

    /// <summary>The declared type of a value (graph input/output or value_info, in that order), or null.</summary>
    public ValueInfoProto? ValueInfo(string name) =>
        _inputs.GetValueOrDefault(name) ?? _outputs.GetValueOrDefault(name) ?? _valueInfos.GetValueOrDefault(name);

    /// <summary>The node named <paramref name="name"/> (the first one listed, should several share it), or null.</summary>
    public NodeProto? Node(string name) => name is not null && _byName.TryGetValue(name, out var list) ? list[0] : null;

    /// <summary>True when <paramref name="value"/> is a graph output.</summary>
    public bool IsGraphOutput(string value) => _outputs.ContainsKey(value);

    /// <summary>True when <paramref name="value"/> is a graph input.</summary>
    public bool IsGraphInput(string value) => _inputs.ContainsKey(value);

    /// <summary>True when this graph defines <paramref name="value"/>: graph input, initializer or node output.
    /// (A subgraph may also read values of enclosing graphs; see <see cref="Subgraphs"/>.)</summary>
    public bool IsDefined(string value) => _producers.ContainsKey(value) || _initializers.ContainsKey(value) || IsGraphInput(value);

    /// <summary>Position of <paramref name="node"/> (this very object) in the graph's node list, or -1.</summary>
    public int PositionOf(NodeProto node)
    {
        var nodes = Graph.Node;
        for (var i = 0; i < nodes.Count; i++)
            if (ReferenceEquals(nodes[i], node)) return i;
        return -1;
    }

    /// <summary>The nodes of this graph whose subgraphs (If/Loop/Scan bodies) read <paramref name="value"/> from
    /// this scope: consumers that <see cref="Consumers"/> does not list.</summary>
    public IReadOnlyList<NodeProto> SubgraphConsumers(string value)
    {
        _implicitInputs ??= Graph.Node.Where(n => Subgraphs.Of(n).Any())
            .ToDictionary<NodeProto, NodeProto, IReadOnlySet<string>>(n => n, Subgraphs.ImplicitInputs, ReferenceEqualityComparer.Instance);
        return _implicitInputs.Where(kv => kv.Value.Contains(value)).Select(kv => kv.Key).ToList();
    }

    /// <summary>
    /// Element type and shape of <paramref name="value"/> where the model says: initializers (exact), graph inputs
    /// and outputs, and value_info entries. Null when the model declares nothing for it.
    /// </summary>
    public TensorTypeInfo? TypeOf(string value)
    {
        if (_initializers.TryGetValue(value, out var init)) return TensorTypeInfo.From(init);
        return ValueInfo(value) is { } vi ? TensorTypeInfo.From(vi) : null;
    }

    // The editor reports each change it makes, so the maps stay true without a rebuild.

    internal void NodeAdded(NodeProto node)
    {
        if (!string.IsNullOrEmpty(node.Name)) Add(_byName, node.Name, node);
        foreach (var output in node.Output)
            if (output.Length > 0) _producers[output] = node;
        foreach (var input in node.Input)
            if (input.Length > 0) Add(_consumers, input, node);
        if (_implicitInputs is not null && Subgraphs.Of(node).Any()) _implicitInputs = null;
    }

    internal void NodeRemoved(NodeProto node)
    {
        if (!string.IsNullOrEmpty(node.Name)) Remove(_byName, node.Name, node);
        foreach (var output in node.Output)
            if (_producers.TryGetValue(output, out var p) && ReferenceEquals(p, node)) _producers.Remove(output);
        foreach (var input in node.Input) Remove(_consumers, input, node);
        if (_implicitInputs is not null && Subgraphs.Of(node).Any()) _implicitInputs = null;
    }

    /// <summary>Call after <paramref name="node"/>'s inputs named <paramref name="from"/> were changed to <paramref name="to"/>.</summary>
    internal void InputRenamed(NodeProto node, string from, string to)
    {
        if (!node.Input.Contains(from)) Remove(_consumers, from, node);
        if (to.Length > 0) Add(_consumers, to, node);
    }

    /// <summary>Call after <paramref name="node"/>'s output <paramref name="from"/> was renamed to <paramref name="to"/>.</summary>
    internal void OutputRenamed(NodeProto node, string from, string to)
    {
        if (_producers.TryGetValue(from, out var p) && ReferenceEquals(p, node)) _producers.Remove(from);
        if (to.Length > 0) _producers[to] = node;
    }

    internal void InitializerSet(TensorProto tensor) => _initializers[tensor.Name] = tensor;

    internal void InitializerRemoved(string name) => _initializers.Remove(name);

    internal void GraphInputAdded(ValueInfoProto input) => _inputs.TryAdd(input.Name, input);

    internal void GraphInputRemoved(string name) => Relist(_inputs, Graph.Input, name);

    internal void GraphOutputAdded(ValueInfoProto output) => _outputs.TryAdd(output.Name, output);

    internal void GraphOutputRemoved(string name) => Relist(_outputs, Graph.Output, name);

    internal void ValueInfoAdded(ValueInfoProto info) => _valueInfos.TryAdd(info.Name, info);

    /// <summary>Call after reads inside subgraphs changed: their implicit inputs are computed again when next asked.</summary>
    internal void SubgraphReadsChanged() => _implicitInputs = null;

    /// <summary>The entry for <paramref name="name"/> after one of that name left <paramref name="list"/> (a short list).</summary>
    private static void Relist(Dictionary<string, ValueInfoProto> map, IEnumerable<ValueInfoProto> list, string name)
    {
        map.Remove(name);
        if (list.FirstOrDefault(v => v.Name == name) is { } other) map[name] = other;
    }

    private static void Add(Dictionary<string, List<NodeProto>> map, string key, NodeProto node)
    {
        if (!map.TryGetValue(key, out var list)) map[key] = list = [];
        if (!list.Any(n => ReferenceEquals(n, node))) list.Add(node);
    }

    private static void Remove(Dictionary<string, List<NodeProto>> map, string key, NodeProto node)
    {
        if (!map.TryGetValue(key, out var list)) return;
        list.RemoveAll(n => ReferenceEquals(n, node));
        if (list.Count == 0) map.Remove(key);
    }
}
