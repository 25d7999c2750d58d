using OnnxSteer.Graph;
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
            throw new InvalidModelException($"{source}: the model carries no onnxsteer steering record (metadata '{SteeringMetadata.StepsKey}')");
        var proto = model.Proto.Clone();
        var scopes = new BranchEditors(new GraphEditor(proto.Graph));
        foreach (var step in steps.Reverse())
            foreach (var edit in Enumerable.Reverse(step.Edits))
                Undo(scopes, edit, source);
        SteeringMetadata.Write(proto, []);
        return new OnnxModel(proto, model.FilePath, model.BaseDirectory);
    }

    private static void Undo(BranchEditors scopes, SiteEdit edit, string source)
    {
        var editor = scopes.Main;
        InvalidModelException Mismatch(string what) =>
            new($"{source}: cannot unpatch site {edit.Site}: {what}; the graph was changed after patching");

        switch (edit.Kind)
        {
            case EditKind.Fold:
                foreach (var original in edit.ParseOriginalTensors())
                {
                    if (editor.Index.Initializer(original.Name) is null) throw Mismatch($"folded weight '{original.Name}' is missing");
                    editor.SetInitializer(original);
                }
                return;
            case EditKind.InputEdge or EditKind.OutputEdge when edit.Branches is { } branches:
            {
                foreach (var branch in Enumerable.Reverse(branches))
                {
                    var body = scopes.Branch(branch.If, branch.Branch, Mismatch);
                    UndoNode(body, edit.Kind, branch.Node, branch.Input, branch.Gate?.Factor ?? edit.Switch?.Factor ?? edit.Initializer,
                        branch.Output, branch.Gate, Mismatch);
                }
                editor.Index.SubgraphReadsChanged();
                if (!editor.RemoveInitializer(edit.Initializer!)) throw Mismatch($"constant '{edit.Initializer}' is missing");
                if (edit.Switch is { } bsw) UndoSwitch(editor, edit, bsw, Mismatch);
                return;
            }
            case EditKind.InputEdge or EditKind.OutputEdge:
            {
                UndoNode(editor, edit.Kind, edit.Node, edit.Input, edit.Factor, edit.Output, edit.Gate, Mismatch);
                if (!editor.RemoveInitializer(edit.Initializer!)) throw Mismatch($"constant '{edit.Initializer}' is missing");
                if (edit.Switch is { } sw) UndoSwitch(editor, edit, sw, Mismatch);
                return;
            }
            default:
                throw Mismatch($"unknown edit kind {edit.Kind}");
        }
    }

    /// <summary>Removes one steering node (and its gate) and restores the edge it sat on.</summary>
    private static void UndoNode(GraphEditor editor, EditKind kind, string? name, string? input, string? factor, string? output,
        GateEdit? gate, Func<string, InvalidModelException> mismatch)
    {
        var node = editor.Node(name!) ?? throw mismatch($"node '{name}' is missing");
        if (node.Input.Count != 2 || node.Input[0] != input || node.Input[1] != factor || node.Output.Count != 1 || node.Output[0] != output)
            throw mismatch($"node '{name}' is not wired as recorded");
        editor.RemoveNode(node);
        if (gate is not null) DynamicGate.Remove(editor, gate, mismatch);
        if (kind == EditKind.InputEdge)
        {
            // Readers of the steered value read the original again.
            editor.RenameUses(output!, input!);
        }
        else
        {
            // The projection writes the original name again.
            if (editor.Index.Producer(input!) is null) throw mismatch($"no node produces '{input}'");
            editor.RenameOutput(input!, output!);
        }
    }

    /// <summary>Removes what <c>--switchable</c> added: the helper nodes and constants, the vector's graph input, and
    /// the strength input when this edit created it.</summary>
    private static void UndoSwitch(GraphEditor editor, SiteEdit edit, SwitchEdit sw, Func<string, InvalidModelException> mismatch)
    {
        foreach (var name in sw.Nodes)
            editor.RemoveNode(editor.Node(name) ?? throw mismatch($"node '{name}' is missing"));
        var removals = sw.Initializers.ToList();
        if (sw.StrengthCreated) removals.Add(sw.Strength);
        foreach (var name in removals)
            if (!editor.RemoveInitializer(name)) throw mismatch($"constant '{name}' is missing");
        var inputs = new List<string> { edit.Initializer! };
        if (sw.StrengthCreated) inputs.Add(sw.Strength);
        foreach (var name in inputs)
            if (!editor.RemoveGraphInput(name)) throw mismatch($"graph input '{name}' is missing");
    }
}
