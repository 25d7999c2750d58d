using Onnx;

namespace OnnxSteer.Graph;

/// <summary>How strict <see cref="GraphValidator"/> is.</summary>
internal sealed record ValidationOptions
{
    /// <summary>
    /// Require nodes to be listed in topological order, as the ONNX specification does. Off by default because ONNX
    /// Runtime sorts graphs itself and real exports break the rule (the onnxruntime-genai model builder lists a
    /// Gather after the nodes that read it); cycles are reported either way.
    /// </summary>
    public bool RequireTopologicalOrder { get; init; }

    /// <summary>The defaults: ONNX Runtime's view of a valid graph.</summary>
    public static ValidationOptions Default { get; } = new();

    /// <summary>The ONNX specification's view: also require topological order.</summary>
    public static ValidationOptions Strict { get; } = new() { RequireTopologicalOrder = true };
}

/// <summary>
/// Checks that a (possibly edited) model is still a valid ONNX graph, as far as structure goes: every node input is
/// produced (by a graph input, an initializer, a node — an earlier one under <see cref="ValidationOptions.Strict"/> —
/// or, in a subgraph, an enclosing scope), the nodes form no cycle, no value is produced twice, graph outputs are
/// produced, and every node's domain has an opset import. Each problem is one line naming the graph, node and value.
/// </summary>
internal static class GraphValidator
{
    /// <summary>All problems of <paramref name="model"/>; empty when it is valid.</summary>
    public static IReadOnlyList<string> Check(ModelProto model, ValidationOptions? options = null)
    {
        options ??= ValidationOptions.Default;
        var problems = new List<string>();
        if (model.Graph is null) return ["the model has no graph"];
        var imported = model.OpsetImport.Select(o => NormalDomain(o.Domain)).ToHashSet(StringComparer.Ordinal);
        CheckGraph(new GraphScope(model.Graph, null, null, null), new Scope(null), imported, options, problems);
        foreach (var function in model.Functions)
        {
            var functionImports = function.OpsetImport.Select(o => NormalDomain(o.Domain)).ToHashSet(StringComparer.Ordinal);
            var asGraph = new GraphProto { Name = $"function {function.Domain}.{function.Name}" };
            asGraph.Node.Add(function.Node);
            asGraph.Input.Add(function.Input.Select(i => new ValueInfoProto { Name = i }));
            asGraph.Output.Add(function.Output.Select(o => new ValueInfoProto { Name = o }));
            CheckGraph(new GraphScope(asGraph, null, null, null), new Scope(null), functionImports, options, problems);
        }
        return problems;
    }

    /// <summary>Throws <see cref="GraphValidationException"/> (an <see cref="InvalidModelException"/>) listing the
    /// problems of <paramref name="model"/>; <paramref name="source"/> names it in the message.</summary>
    public static void ThrowIfInvalid(ModelProto model, string? source = null, ValidationOptions? options = null)
    {
        var problems = Check(model, options);
        if (problems.Count > 0) throw new GraphValidationException(problems, source);
    }

    /// <summary>Values visible in a graph: those defined so far, and all it defines (for the lenient order rule);
    /// then those of the enclosing graphs.</summary>
    private sealed class Scope(Scope? parent)
    {
        public readonly HashSet<string> SoFar = new(StringComparer.Ordinal);
        public readonly HashSet<string> All = new(StringComparer.Ordinal);

        public bool SeesNow(string name) => SoFar.Contains(name) || (parent?.SeesNow(name) ?? false);
        public bool SeesAnywhere(string name) => All.Contains(name) || (parent?.SeesAnywhere(name) ?? false);
    }

    private static void CheckGraph(GraphScope where, Scope scope, HashSet<string> imported, ValidationOptions options, List<string> problems)
    {
        var graph = where.Graph;
        var label = where.Path;
        var strict = options.RequireTopologicalOrder;
        var producer = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
            foreach (var o in node.Output)
                if (o.Length > 0) producer.TryAdd(o, node);

        var declared = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in graph.Input)
            if (!declared.Add(input.Name)) problems.Add($"{label}: graph input '{input.Name}' is declared twice");
        foreach (var init in graph.Initializer) declared.Add(init.Name); // may share a graph input's name (a default value)
        foreach (var sparse in graph.SparseInitializer)
            if (sparse.Values is not null) declared.Add(sparse.Values.Name);
        scope.SoFar.UnionWith(declared);
        scope.All.UnionWith(declared);
        scope.All.UnionWith(producer.Keys);

        var outOfOrder = false;
        var producedBy = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            var nodeLabel = GraphScope.NodeLabel(node);
            if (string.IsNullOrEmpty(node.OpType)) problems.Add($"{label}: node '{nodeLabel}' has no op_type");
            else if (!imported.Contains(NormalDomain(node.Domain)))
                problems.Add($"{label}: node '{nodeLabel}' ({node.OpType}) is in domain '{NormalDomain(node.Domain)}', which the model does not import (add an opset_import for it)");

            foreach (var input in node.Input)
            {
                if (input.Length == 0 || scope.SeesNow(input)) continue;
                if (producer.TryGetValue(input, out var later))
                {
                    if (later == node) continue; // reported below as a cycle of one
                    outOfOrder = true;
                    if (strict) problems.Add($"{label}: node '{nodeLabel}' reads '{input}' before node '{GraphScope.NodeLabel(later)}' produces it");
                    continue;
                }
                if (!strict && scope.SeesAnywhere(input)) continue; // an outer value produced after this subgraph's node
                problems.Add($"{label}: node '{nodeLabel}' reads '{input}', which nothing produces (not a graph input, initializer, node output{(where.Parent is null ? "" : " or outer-scope value")})");
            }

            foreach (var (attribute, sub) in Subgraphs.Of(node))
                CheckGraph(new GraphScope(sub, node, attribute, where), new Scope(scope), imported, options, problems);

            foreach (var output in node.Output)
            {
                if (output.Length == 0) continue;
                if (producedBy.TryGetValue(output, out var first))
                    problems.Add($"{label}: value '{output}' is produced twice, by '{first}' and by '{nodeLabel}'");
                else if (declared.Contains(output))
                    problems.Add($"{label}: node '{nodeLabel}' writes '{output}', which is already a graph input or initializer");
                producedBy.TryAdd(output, nodeLabel);
                scope.SoFar.Add(output);
            }
        }

        foreach (var output in graph.Output)
            if (!scope.SeesNow(output.Name))
                problems.Add($"{label}: graph output '{output.Name}' is not produced by any node, input or initializer");

        foreach (var n in graph.Node.Where(n => n.Input.Any(i => i.Length > 0 && n.Output.Contains(i))))
            problems.Add($"{label}: cycle: {GraphScope.NodeLabel(n)} -> {GraphScope.NodeLabel(n)}");
        if (outOfOrder)
        {
            // Out of order is either merely unsorted or a real cycle: say which.
            try
            {
                TopologicalOrder.Sort(graph);
                if (strict) problems.Add($"{label}: nodes are not in topological order (TopologicalOrder.SortInPlace fixes it)");
            }
            catch (GraphValidationException cycle) when (!cycle.Problems[0].Contains(" -> ") || !IsSelfLoop(cycle.Problems[0]))
            {
                problems.Add($"{label}: {cycle.Problems[0]}");
            }
            catch (GraphValidationException) { } // a self-loop, already reported
        }
    }

    private static bool IsSelfLoop(string cycle)
    {
        var parts = cycle["cycle: ".Length..].Split(" -> ");
        return parts.Length == 2;
    }

    /// <summary>"" and "ai.onnx" are the same default domain.</summary>
    private static string NormalDomain(string? domain) => string.IsNullOrEmpty(domain) || domain == "ai.onnx" ? "" : domain;
}
