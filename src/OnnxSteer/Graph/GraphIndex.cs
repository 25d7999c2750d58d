using Onnx;

namespace OnnxSteer.Graph;

/// <summary>
/// Read-only lookups over one graph: who produces each value, who consumes it, initializers and declared types.
/// Rebuild it after editing the graph.
/// </summary>
public sealed class GraphIndex
{
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<NodeProto>> _consumers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ValueInfoProto> _valueInfos = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeProto> _byName = new(StringComparer.Ordinal);

    /// <summary>The graph indexed.</summary>
    public GraphProto Graph { get; }

    /// <summary>Indexes <paramref name="graph"/> (its own nodes; subgraph readers under <see cref="SubgraphConsumers"/>).</summary>
    public GraphIndex(GraphProto graph)
    {
        Graph = graph;
        foreach (var init in graph.Initializer) _initializers[init.Name] = init;
        foreach (var vi in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo)) _valueInfos.TryAdd(vi.Name, vi);
        foreach (var node in graph.Node)
        {
            if (!string.IsNullOrEmpty(node.Name)) _byName.TryAdd(node.Name, node);
            foreach (var output in node.Output)
                if (output.Length > 0) _producers[output] = node;
            foreach (var input in node.Input)
            {
                if (input.Length == 0) continue;
                if (!_consumers.TryGetValue(input, out var list)) _consumers[input] = list = [];
                if (!list.Contains(node)) list.Add(node);
            }
        }
    }

    /// <summary>The node that produces <paramref name="value"/>, or null for graph inputs and initializers.</summary>
    public NodeProto? Producer(string value) => _producers.GetValueOrDefault(value);

    /// <summary>The nodes of this graph that read <paramref name="value"/> (not those in subgraphs).</summary>
    public IReadOnlyList<NodeProto> Consumers(string value) =>
        _consumers.TryGetValue(value, out var list) ? list : [];

    /// <summary>The initializer named <paramref name="name"/>, or null.</summary>
    public TensorProto? Initializer(string name) => _initializers.GetValueOrDefault(name);

    /// <summary>The declared type of a value (graph input/output or value_info), or null.</summary>
    public ValueInfoProto? ValueInfo(string name) => _valueInfos.GetValueOrDefault(name);

    /// <summary>The node named <paramref name="name"/>, or null.</summary>
    public NodeProto? Node(string name) => _byName.GetValueOrDefault(name);

    /// <summary>True when <paramref name="value"/> is a graph output.</summary>
    public bool IsGraphOutput(string value) => Graph.Output.Any(o => o.Name == value);

    /// <summary>True when <paramref name="value"/> is a graph input.</summary>
    public bool IsGraphInput(string value) => Graph.Input.Any(i => i.Name == value);

    /// <summary>True when this graph defines <paramref name="value"/>: graph input, initializer or node output.
    /// (A subgraph may also read values of enclosing graphs; see <see cref="Subgraphs"/>.)</summary>
    public bool IsDefined(string value) => _producers.ContainsKey(value) || _initializers.ContainsKey(value) || IsGraphInput(value);

    /// <summary>Position of <paramref name="node"/> in the graph's node list, or -1.</summary>
    public int PositionOf(NodeProto node) => Graph.Node.IndexOf(node);

    /// <summary>The nodes of this graph whose subgraphs (If/Loop/Scan bodies) read <paramref name="value"/> from
    /// this scope: consumers that <see cref="Consumers"/> does not list.</summary>
    public IReadOnlyList<NodeProto> SubgraphConsumers(string value)
    {
        _implicitInputs ??= Graph.Node.Where(n => Subgraphs.Of(n).Any()).ToDictionary(n => n, Subgraphs.ImplicitInputs);
        return _implicitInputs.Where(kv => kv.Value.Contains(value)).Select(kv => kv.Key).ToList();
    }

    private Dictionary<NodeProto, IReadOnlySet<string>>? _implicitInputs;

    /// <summary>
    /// Element type and shape of <paramref name="value"/> where the model says: initializers (exact), graph inputs
    /// and outputs, and value_info entries. Null when the model declares nothing for it.
    /// </summary>
    public TensorTypeInfo? TypeOf(string value)
    {
        if (_initializers.TryGetValue(value, out var init)) return TensorTypeInfo.From(init);
        return _valueInfos.TryGetValue(value, out var vi) ? TensorTypeInfo.From(vi) : null;
    }
}
