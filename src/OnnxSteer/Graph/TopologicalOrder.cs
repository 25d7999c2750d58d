using Onnx;

namespace OnnxSteer.Graph;

/// <summary>
/// Orders a graph's nodes so every value is produced before it is read (ONNX requires node lists in this order).
/// Subgraph reads count as inputs of the node that holds the subgraph.
/// </summary>
internal static class TopologicalOrder
{
    /// <summary>The nodes in dependency order, keeping the original order wherever it is already valid.
    /// Throws <see cref="GraphValidationException"/> naming the nodes of a cycle.</summary>
    public static IReadOnlyList<NodeProto> Sort(GraphProto graph)
    {
        var nodes = graph.Node;
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < nodes.Count; i++)
            foreach (var o in nodes[i].Output)
                if (o.Length > 0) producer.TryAdd(o, i);
        var dependents = new List<int>[nodes.Count];
        var pending = new int[nodes.Count];
        for (var i = 0; i < nodes.Count; i++) dependents[i] = [];
        for (var i = 0; i < nodes.Count; i++)
        {
            foreach (var p in Dependencies(nodes[i], producer).Distinct())
            {
                dependents[p].Add(i);
                pending[i]++;
            }
        }
        // Kahn's algorithm, always taking the earliest ready node so a sorted graph comes back unchanged.
        var ready = new PriorityQueue<int, int>();
        for (var i = 0; i < nodes.Count; i++) if (pending[i] == 0) ready.Enqueue(i, i);
        var order = new List<NodeProto>(nodes.Count);
        while (ready.TryDequeue(out var i, out _))
        {
            order.Add(nodes[i]);
            foreach (var d in dependents[i])
                if (--pending[d] == 0) ready.Enqueue(d, d);
        }
        if (order.Count < nodes.Count)
            throw new GraphValidationException([DescribeCycle(nodes, producer, pending)]);
        return order;
    }

    /// <summary>Reorders <paramref name="graph"/>'s node list in place (see <see cref="Sort"/>).</summary>
    public static void SortInPlace(GraphProto graph)
    {
        var order = Sort(graph);
        graph.Node.Clear();
        graph.Node.Add(order);
    }

    /// <summary>Indices of the nodes producing what node reads (itself included when it reads its own output).</summary>
    private static IEnumerable<int> Dependencies(NodeProto node, Dictionary<string, int> producer)
    {
        foreach (var input in node.Input.Concat(Subgraphs.ImplicitInputs(node)))
            if (input.Length > 0 && producer.TryGetValue(input, out var p)) yield return p;
    }

    private static string DescribeCycle(Google.Protobuf.Collections.RepeatedField<NodeProto> nodes, Dictionary<string, int> producer, int[] pending)
    {
        // Every node left has an unresolved dependency that is also left; walking them must come back round.
        var start = Array.FindIndex(pending, p => p > 0);
        var path = new List<int>();
        var seen = new Dictionary<int, int>();
        var current = start;
        while (!seen.ContainsKey(current))
        {
            seen[current] = path.Count;
            path.Add(current);
            current = Dependencies(nodes[current], producer).First(p => pending[p] > 0);
        }
        // path runs reader -> producer; reverse it to follow the data, and start at the earliest node for a stable message.
        var loop = path.Skip(seen[current]).Reverse().ToList();
        var first = loop.IndexOf(loop.Min());
        var cycle = loop.Skip(first).Concat(loop.Take(first)).Select(i => GraphScope.NodeLabel(nodes[i])).ToList();
        cycle.Add(cycle[0]);
        return $"cycle: {string.Join(" -> ", cycle)}";
    }
}
