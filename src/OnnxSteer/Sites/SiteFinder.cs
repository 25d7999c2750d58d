using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Sites;

/// <summary>
/// Finds the AUSteer steering sites of every decoder layer from the graph's structure (docs/method.md, "Sites"):
/// <list type="bullet">
/// <item><c>attn</c>: the input of a projection (MatMul, Gemm, com.microsoft MatMulNBits; possibly behind Reshape,
/// Transpose or Flatten) whose input comes from a fused attention op (GroupQueryAttention, MultiHeadAttention,
/// Attention, ...) or from softmax(QK^T)V of a decomposed attention.</item>
/// <item><c>mlp</c>: the input of a down projection fed by act(gate(x)) * up(x) (gated) or act(fc1(x)) (ungated), where
/// act is any elementwise expression with a nonlinearity: Sigmoid*x (SiLU), Gelu, FastGelu, QuickGelu, Relu, Erf- or
/// Tanh-based GELU, ...</item>
/// <item><c>mlp-out</c>: the down projection's output as the residual add consumes it (after a constant bias Add when a
/// MatMul has one; Gemm and MatMulNBits include their bias).</item>
/// </list>
/// Node names only number layers (<c>layers.N</c>, <c>h.N</c>, <c>blocks.N</c>); without usable numbers, layers are
/// numbered by order of appearance. Where names and structure disagree, the report says so in its warnings.
/// </summary>
public static class SiteFinder
{
    /// <summary>Fused attention ops whose first output is the concatenated head outputs.</summary>
    private static readonly HashSet<string> FusedAttentionOps =
        ["GroupQueryAttention", "MultiHeadAttention", "Attention", "PackedAttention", "PackedMultiHeadAttention",
         "SparseAttention", "DecoderMaskedMultiHeadAttention", "DecoderMaskedSelfAttention", "PagedAttention"];

    /// <summary>What the finder looks for, for error messages.</summary>
    public const string WhatWasLookedFor =
        "looked for attention output projections (MatMul, Gemm or MatMulNBits with a constant weight whose input comes, " +
        "possibly through Reshape/Transpose/Flatten, from GroupQueryAttention/MultiHeadAttention/Attention or from a " +
        "softmax(QK^T)V MatMul) and MLP down projections (whose input is act(gate)*up or act(fc1), act being Sigmoid*x, " +
        "Gelu, FastGelu, QuickGelu, Relu or similar)";

    /// <summary>Finds the sites of <paramref name="model"/>; throws <see cref="NoSitesFoundException"/> when there are none.</summary>
    public static SiteReport Find(OnnxModel model) => Find(model.Graph, model.FilePath ?? "(in-memory model)");

    /// <summary>Finds the sites of <paramref name="graph"/>; <paramref name="source"/> names it in messages.</summary>
    public static SiteReport Find(GraphProto graph, string source)
    {
        var report = Scan(graph);
        if (report.Sites.Count == 0) throw new NoSitesFoundException(NoSitesMessage(source, report));
        return report;
    }

    /// <summary>Like <see cref="Find(OnnxModel)"/> but returns an empty report instead of throwing (for <c>inspect</c>).</summary>
    public static SiteReport Scan(OnnxModel model) => Scan(model.Graph);

    /// <summary>Like <see cref="Find(GraphProto, string)"/> but returns an empty report instead of throwing.</summary>
    public static SiteReport Scan(GraphProto graph)
    {
        var patterns = new GraphPatterns(new GraphIndex(graph));
        var warnings = new List<string>();
        var projections = graph.Node.Select((node, order) => Projection.TryRead(node, order, patterns))
            .OfType<Projection>().ToList();
        var byOutput = new Dictionary<string, Projection>(StringComparer.Ordinal);
        foreach (var p in projections) byOutput.TryAdd(p.Output, p);

        var attn = new List<Candidate>();
        var mlp = new List<Candidate>();
        foreach (var projection in projections)
        {
            if (AttentionEvidence(projection, patterns) is { } attnEvidence)
                attn.Add(new Candidate(SiteKind.Attn, projection, attnEvidence));
            else if (MlpEvidence(projection, patterns, byOutput, warnings) is { } mlpEvidence)
                mlp.Add(new Candidate(SiteKind.Mlp, projection, mlpEvidence));
        }

        var sites = new List<SteeringSite>();
        var attnLayers = NumberLayers(attn, warnings);
        var mlpLayers = NumberLayers(mlp, warnings);
        for (var i = 0; i < attn.Count; i++) AddSite(sites, warnings, patterns, attn[i], attnLayers[i], SiteKind.Attn);
        for (var i = 0; i < mlp.Count; i++)
        {
            AddSite(sites, warnings, patterns, mlp[i], mlpLayers[i], SiteKind.Mlp);
            AddSite(sites, warnings, patterns, mlp[i], mlpLayers[i], SiteKind.MlpOut);
        }

        WarnAboutNames(attn.Concat(mlp).ToList(), projections, warnings);
        if (attn.Count > 0 && mlp.Count > 0 && attn.Count != mlp.Count)
            warnings.Add($"found {attn.Count} attention output projections but {mlp.Count} MLP down projections; layers may not line up");

        var ordered = sites.OrderBy(s => s.Kind).ThenBy(s => s.Layer).ToList();
        return new SiteReport(ordered, warnings);
    }

    /// <summary>The one-line explanation given when a graph has no site.</summary>
    public static string NoSitesMessage(string source, SiteReport report)
    {
        var message = $"{source}: no steering site found: {WhatWasLookedFor}";
        return report.Warnings.Count == 0 ? message : $"{message}; note: {string.Join("; ", report.Warnings)}";
    }

    private sealed record Candidate(SiteKind Kind, Projection Projection, string Evidence);

    /// <summary>Why <paramref name="projection"/> is an attention output projection, or null when it is not one.</summary>
    private static string? AttentionEvidence(Projection projection, GraphPatterns graph)
    {
        var source = graph.SkipShapeOps(projection.Activation);
        var producer = graph.Index.Producer(source);
        if (producer is null) return null;
        if (FusedAttentionOps.Contains(producer.OpType) && producer.Output.Count > 0 && producer.Output[0] == source)
            return $"input from {Qualified(producer)} '{producer.Name}'";
        if (producer.OpType == "MatMul" && producer.Input.Count == 2
            && !graph.IsConstant(producer.Input[0]) && !graph.IsConstant(producer.Input[1])
            && producer.Input.Any(input => graph.Index.Producer(graph.SkipShapeOps(input))?.OpType == "Softmax"))
            return $"input from softmax(QK^T)V (MatMul '{producer.Name}')";
        return null;
    }

    /// <summary>Why <paramref name="projection"/> is an MLP down projection, or null when it is not one.</summary>
    private static string? MlpEvidence(Projection projection, GraphPatterns graph,
        IReadOnlyDictionary<string, Projection> byOutput, List<string> warnings)
    {
        var whole = graph.Leaves(projection.Activation);
        if (whole.Nonlinear && whole.Single is { } fc1Out && byOutput.TryGetValue(fc1Out, out var fc1))
            return $"input is act(fc1), fc1 = {fc1.Node.OpType} '{fc1.Node.Name}'";

        var mul = graph.Index.Producer(graph.SkipShapeOps(projection.Activation));
        if (mul is not { OpType: "Mul" } || mul.Input.Count != 2) return null;
        var sides = new[] { graph.Leaves(mul.Input[0]), graph.Leaves(mul.Input[1]) };
        for (var s = 0; s < 2; s++)
        {
            var (act, linear) = (sides[s], sides[1 - s]);
            if (!act.Nonlinear || linear.Nonlinear || act.Single is not { } gateOut || linear.Single is not { } upOut) continue;
            if (gateOut == upOut || !byOutput.TryGetValue(gateOut, out var gate) || !byOutput.TryGetValue(upOut, out var up)) continue;
            if (graph.SkipShapeOps(gate.Activation) != graph.SkipShapeOps(up.Activation))
                warnings.Add($"'{projection.Node.Name}': gate '{gate.Node.Name}' and up '{up.Node.Name}' projections read different inputs; treated as a gated MLP anyway");
            return $"input is act(gate)*up, gate = {gate.Node.OpType} '{gate.Node.Name}', up = {up.Node.OpType} '{up.Node.Name}'";
        }
        return null;
    }

    /// <summary>
    /// Layer numbers for candidates of one kind, in graph order: from names when every candidate has a distinct number,
    /// else 0, 1, 2, ... by order of appearance.
    /// </summary>
    private static int[] NumberLayers(List<Candidate> candidates, List<string> warnings)
    {
        if (candidates.Count == 0) return [];
        var kind = candidates[0].Kind.ToName();
        var named = candidates.Select(c => LayerFromNames(c.Projection)).ToList();
        if (named.All(n => n.HasValue) && named.Distinct().Count() == named.Count)
        {
            var numbers = named.Select(n => n!.Value).ToArray();
            if (!numbers.Zip(numbers.Skip(1)).All(pair => pair.First < pair.Second))
                warnings.Add($"layer numbers in the names of the {kind} projections ({string.Join(", ", numbers)}) are not in graph order; the names are used");
            return numbers;
        }
        if (named.Any(n => n.HasValue))
            warnings.Add($"names give layer numbers for {named.Count(n => n.HasValue)} of {named.Count} {kind} projections " +
                         $"({(named.Distinct().Count() < named.Count ? "with repeats" : "not all")}); layers numbered by order of appearance instead");
        return Enumerable.Range(0, candidates.Count).ToArray();
    }

    private static int? LayerFromNames(Projection p) =>
        LayerNames.LayerOf(p.Node.Name) ?? LayerNames.LayerOf(p.Output) ?? LayerNames.LayerOf(p.Weight);

    private static void AddSite(List<SteeringSite> sites, List<string> warnings, GraphPatterns graph, Candidate candidate, int layer, SiteKind kind)
    {
        var p = candidate.Projection;
        string value;
        string? biasAdd = null;
        int width;
        if (kind == SiteKind.MlpOut)
        {
            (value, biasAdd) = OutputAsConsumed(p, graph);
            width = p.OutputWidth > 0 ? p.OutputWidth : LastDim(graph, p.Output);
        }
        else
        {
            value = p.Activation;
            width = p.InputWidth > 0 ? p.InputWidth : LastDim(graph, p.Activation);
        }
        var id = $"{kind.ToName()}.{layer}";
        if (width <= 0)
        {
            warnings.Add($"{id}: '{p.Node.Name}' ({p.Node.OpType}) has no known width (weight shape and value shape unknown); skipped");
            return;
        }
        var elementType = graph.DeclaredElementType(value) is > 0 and var declared ? declared : p.ElementType;
        if (elementType == 0) warnings.Add($"{id}: element type of '{value}' is unknown");
        sites.Add(new SteeringSite(kind, layer, width, elementType, p.Node.Name, p.Node.OpType, value)
        {
            BiasAddNode = biasAdd,
            Evidence = candidate.Evidence,
        });
    }

    /// <summary>
    /// The down projection's output as the residual add consumes it: the output of a following Add of a constant bias
    /// when there is one (the value a hook on a biased nn.Linear sees), else the projection's own output.
    /// </summary>
    private static (string Value, string? BiasAdd) OutputAsConsumed(Projection p, GraphPatterns graph)
    {
        var consumers = graph.Index.Consumers(p.Output);
        if (consumers is [{ OpType: "Add" } add] && add.Input.Count == 2 && !graph.Index.IsGraphOutput(p.Output))
        {
            var other = add.Input[0] == p.Output ? add.Input[1] : add.Input[0];
            if (graph.IsConstant(other)) return (add.Output[0], add.Name);
        }
        return (p.Output, null);
    }

    private static int LastDim(GraphPatterns graph, string value) =>
        graph.DeclaredShape(value) is { Length: > 0 } dims && dims[^1] > 0 ? (int)dims[^1] : 0;

    /// <summary>Adds a warning wherever a projection's name suggests a different role than its structure shows.</summary>
    private static void WarnAboutNames(List<Candidate> found, List<Projection> projections, List<string> warnings)
    {
        foreach (var c in found)
        {
            var named = LayerNames.KindOf(c.Projection.Node.Name);
            if (named is { } n && n != c.Kind)
                warnings.Add($"'{c.Projection.Node.Name}' ({c.Projection.Node.OpType}) is named like an {n.ToName()} projection, " +
                             $"but its structure says {c.Kind.ToName()} ({c.Evidence}); structure wins");
        }
        var foundNodes = found.Select(c => c.Projection.Node).ToHashSet();
        foreach (var p in projections.Where(p => !foundNodes.Contains(p.Node)))
        {
            if (LayerNames.LooksLikeAttnOutput(p.Node.Name))
                warnings.Add($"'{p.Node.Name}' ({p.Node.OpType}) is named like an attention output projection, but its input " +
                             "does not come from an attention op or softmax(QK^T)V; not a site");
            else if (LayerNames.LooksLikeMlpDown(p.Node.Name))
                warnings.Add($"'{p.Node.Name}' ({p.Node.OpType}) is named like an MLP down projection, but its input is not " +
                             "act(gate)*up or act(fc1); not a site");
        }
    }

    private static string Qualified(NodeProto node) =>
        string.IsNullOrEmpty(node.Domain) || node.Domain == "ai.onnx" ? node.OpType : $"{node.Domain}.{node.OpType}";
}
