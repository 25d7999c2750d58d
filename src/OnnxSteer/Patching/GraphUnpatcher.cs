using Onnx;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Patching;

/// <summary>
/// Removes steering recorded by <see cref="GraphPatcher"/>: inserted nodes and constants go, rewired edges are
/// restored, folded tensors get back their original protobuf (external-data reference or embedded data), and
/// onnxsteer's metadata keys are removed. The result is structurally equal to the model before patching.
/// </summary>
internal static class GraphUnpatcher
{
    /// <summary>A copy of <paramref name="model"/> with every recorded steering step undone (newest first).</summary>
    /// <exception cref="OnnxSteerException">The model is not steered, or its graph no longer matches the record.</exception>
    public static OnnxModel Remove(OnnxModel model)
    {
        var source = model.FilePath ?? "model";
        var steps = SteeringMetadata.Read(model.Proto, source);
        if (steps.Count == 0)
            throw new OnnxSteerException($"{source}: the model carries no onnxsteer steering record (metadata '{SteeringMetadata.StepsKey}')", ExitCodes.InvalidInput);
        var proto = model.Proto.Clone();
        var graph = proto.Graph;
        foreach (var step in steps.Reverse())
            foreach (var edit in Enumerable.Reverse(step.Edits))
                Undo(graph, edit, source);
        SteeringMetadata.Write(proto, []);
        return new OnnxModel(proto, model.FilePath, model.BaseDirectory);
    }

    private static void Undo(GraphProto graph, SiteEdit edit, string source)
    {
        InvalidModelException Mismatch(string what) =>
            new($"{source}: cannot unpatch site {edit.Site}: {what}; the graph was changed after patching");

        switch (edit.Kind)
        {
            case EditKind.Fold:
                foreach (var original in edit.ParseOriginalTensors())
                {
                    var index = IndexOfInitializer(graph, original.Name);
                    if (index < 0) throw Mismatch($"folded weight '{original.Name}' is missing");
                    graph.Initializer[index] = original;
                }
                return;
            case EditKind.InputEdge or EditKind.OutputEdge:
            {
                var node = graph.Node.FirstOrDefault(n => n.Name == edit.Node) ?? throw Mismatch($"node '{edit.Node}' is missing");
                if (node.Input.Count != 2 || node.Input[0] != edit.Input || node.Input[1] != edit.Factor
                    || node.Output.Count != 1 || node.Output[0] != edit.Output)
                    throw Mismatch($"node '{edit.Node}' is not wired as recorded");
                graph.Node.Remove(node);
                if (edit.Gate is { } gate) DynamicGate.Remove(graph, gate, Mismatch);
                if (edit.Kind == EditKind.InputEdge)
                {
                    // Readers of the steered value read the original again.
                    foreach (var reader in graph.Node)
                        for (var i = 0; i < reader.Input.Count; i++)
                            if (reader.Input[i] == edit.Output) reader.Input[i] = edit.Input!;
                }
                else
                {
                    // The projection writes the original name again.
                    var producer = graph.Node.FirstOrDefault(n => n.Output.Contains(edit.Input!)) ?? throw Mismatch($"no node produces '{edit.Input}'");
                    producer.Output[producer.Output.IndexOf(edit.Input!)] = edit.Output!;
                }
                var init = IndexOfInitializer(graph, edit.Initializer!);
                if (init < 0) throw Mismatch($"constant '{edit.Initializer}' is missing");
                graph.Initializer.RemoveAt(init);
                if (edit.Switch is { } sw) UndoSwitch(graph, edit, sw, Mismatch);
                return;
            }
            default:
                throw Mismatch($"unknown edit kind {edit.Kind}");
        }
    }

    /// <summary>Removes what <c>--switchable</c> added: the helper nodes and constants, the vector's graph input, and
    /// the strength input when this edit created it.</summary>
    private static void UndoSwitch(GraphProto graph, SiteEdit edit, SwitchEdit sw, Func<string, InvalidModelException> mismatch)
    {
        foreach (var name in sw.Nodes)
            graph.Node.Remove(graph.Node.FirstOrDefault(n => n.Name == name) ?? throw mismatch($"node '{name}' is missing"));
        var removals = sw.Initializers.ToList();
        if (sw.StrengthCreated) removals.Add(sw.Strength);
        foreach (var name in removals)
        {
            var index = IndexOfInitializer(graph, name);
            if (index < 0) throw mismatch($"constant '{name}' is missing");
            graph.Initializer.RemoveAt(index);
        }
        var inputs = new List<string> { edit.Initializer! };
        if (sw.StrengthCreated) inputs.Add(sw.Strength);
        foreach (var name in inputs)
            graph.Input.Remove(graph.Input.FirstOrDefault(i => i.Name == name) ?? throw mismatch($"graph input '{name}' is missing"));
    }

    private static int IndexOfInitializer(GraphProto graph, string name)
    {
        for (var i = 0; i < graph.Initializer.Count; i++)
            if (graph.Initializer[i].Name == name) return i;
        return -1;
    }
}
