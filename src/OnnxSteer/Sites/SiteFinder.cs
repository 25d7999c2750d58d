using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.ModelFiles;
using static OnnxSteer.ErrorText;

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
/// Gate and up may also be two parts (Split outputs or Slices on the last axis) of one fused gate_up projection
/// (Phi-3). Structures found inside If/Loop/Scan bodies, and projections that read their input transposed (Gemm with
/// transA=1), are not sites: they are listed in <see cref="SiteReport.Unsupported"/> and the warnings, with the reason.
/// Node names only number layers (<c>layers.N</c>, <c>h.N</c>, <c>blocks.N</c>); without usable numbers, layers are
/// numbered by order of appearance. Where names and structure disagree, the report says so in its warnings.
/// </summary>
internal static class SiteFinder
{
    /// <summary>Fused attention ops whose first output is the concatenated head outputs.</summary>
    private static readonly HashSet<string> FusedAttentionOps =
        ["GroupQueryAttention", "MultiHeadAttention", "Attention", "PackedAttention", "PackedMultiHeadAttention",
         "SparseAttention", "DecoderMaskedMultiHeadAttention", "DecoderMaskedSelfAttention", "PagedAttention"];

    /// <summary>What the finder looks for, for error messages.</summary>
    public const string WhatWasLookedFor =
        "looked for attention output projections (MatMul, Gemm or MatMulNBits with a constant weight whose input comes, " +
        "possibly through Reshape/Transpose/Flatten, from GroupQueryAttention/MultiHeadAttention/Attention or from a " +
        "softmax(QK^T)V MatMul) and MLP down projections (whose input is act(gate)*up, with gate and up separate projections " +
        "or two Split/Slice parts of one fused gate_up projection, or act(fc1), act being Sigmoid*x, Gelu, FastGelu, QuickGelu, " +
        "Relu or similar)";

    /// <summary>Finds the sites of <paramref name="model"/>; throws <see cref="NoSitesFoundException"/> when there are none.</summary>
    public static SiteReport Find(OnnxModel model) => Find(model.Graph, model.FilePath ?? "(in-memory model)");

    /// <summary>Finds the sites of <paramref name="graph"/>; <paramref name="source"/> names it in messages.</summary>
    public static SiteReport Find(GraphProto graph, string source)
    {
        var report = Scan(graph);
        if (report.Sites.Count == 0) throw new NoSitesFoundException(NoSitesMessage(source, report, graph));
        return report;
    }

    /// <summary>
    /// Refuses, in one line, a site kind asked for of which <paramref name="report"/> has no site but refused some
    /// places (a mixture of experts, a fused op): it names the first such place, its op and why, and the kinds there are.
    /// </summary>
    /// <exception cref="InvalidModelException">A kind in <paramref name="kinds"/> has only refused places.</exception>
    public static void RequireKinds(SiteReport report, IEnumerable<SiteKind> kinds, string source)
    {
        foreach (var kind in kinds.Distinct())
        {
            var refused = report.Unsupported.Where(u => u.Kind == kind).ToList();
            if (refused.Count == 0 || report.Sites.Any(s => s.Kind == kind)) continue;
            var first = refused[0];
            var more = refused.Count > 1 ? $" ({refused.Count - 1} more place(s) like it)" : "";
            var there = report.Sites.Select(s => s.Kind).Distinct().Order().Select(k => k.ToName()).ToList();
            throw new InvalidModelException(
                $"{source}: no {kind.ToName()} site: {first.Id} '{first.ProjectionNode}' ({first.ProjectionOpType}) is not used because {first.Reason}{more}; " +
                $"give {Param("sites")} {string.Join(",", there)} (the kinds this model has)");
        }
    }

    /// <summary>Like <see cref="Find(OnnxModel)"/> but returns an empty report instead of throwing (for <c>inspect</c>).</summary>
    public static SiteReport Scan(OnnxModel model) => Scan(model.Graph);

    /// <summary>Like <see cref="Find(GraphProto, string)"/> but returns an empty report instead of throwing.</summary>
    public static SiteReport Scan(GraphProto graph)
    {
        var warnings = new List<string>();
        var unsupported = new List<UnsupportedSite>();
        var main = ScanGraph(graph, graph.Node.Count, "main", warnings, unsupported);
        var bodies = new List<(GraphScope Scope, List<SteeringSite> Sites, GraphIndex View)>();
        foreach (var scope in Subgraphs.Walk(graph).Skip(1))
        {
            // Building a scope's view copies its parents' nodes; bodies without a projection (most If/Loop bodies) skip
            // that, so a graph of many small bodies costs linear time, not quadratic.
            if (!scope.Graph.Node.Any(n => n.OpType is "MatMul" or "Gemm" or "MatMulNBits")) continue;
            var view = ScopeView(scope, out var ownNodes);
            bodies.Add((scope, ScanGraph(view, ownNodes, scope.Path, [], unsupported), new GraphIndex(view)));
        }
        // Without sites of its own, the main graph may be an Optimum merged decoder: the two branches of one If each
        // hold the whole decoder, reading the same weights. A site found in both is one site, edited in both.
        var mirrored = main.Count == 0 ? MirroredSites(bodies) : [];
        foreach (var (scope, inner, _) in bodies)
            foreach (var site in inner.Where(s => !mirrored.Any(m => m.Branches.Any(b => IsIn(b, scope) && b.ProjectionNode == s.ProjectionNode && m.Kind == s.Kind))))
                unsupported.Add(new UnsupportedSite(site.Id, site.Kind, site.ProjectionNode, site.ProjectionOpType, site.ValueName,
                    scope.Path, SubgraphReason, site.Evidence ?? ""));
        foreach (var u in unsupported)
            warnings.Add($"{u.Id} in {u.Location}: '{u.ProjectionNode}' ({u.ProjectionOpType}) has the structure of a {u.Kind.ToName()} site " +
                         $"({u.Evidence}) but is not used: {u.Reason}");
        return new SiteReport(mirrored.Count > 0 ? mirrored : main, [.. warnings.Select(w => (WarningText)w)]) { Unsupported = unsupported };
    }

    /// <summary>Why sites inside subgraphs are not used.</summary>
    public const string SubgraphReason =
        "it lies inside an If/Loop/Scan body and is not the same projection in both branches of a main-graph If (an Optimum " +
        "merged decoder); patching rewires and recording taps values of the main graph or of such branches only";

    private static bool IsIn(SiteBranch branch, GraphScope scope) =>
        scope.Parent is { Parent: null } && scope.Owner?.Name == branch.IfNode && scope.Attribute == branch.Attribute;

    /// <summary>
    /// The sites found alike in the then and else branches of one If of the main graph: same kind, same layer, and the
    /// same weight (a main-graph initializer both projections read). Each becomes one site with both locations.
    /// </summary>
    private static List<SteeringSite> MirroredSites(List<(GraphScope Scope, List<SteeringSite> Sites, GraphIndex View)> bodies)
    {
        var result = new List<SteeringSite>();
        var ifBodies = bodies.Where(b => b.Scope.Parent is { Parent: null } && b.Scope.Owner is { OpType: "If", Name.Length: > 0 } && b.Sites.Count > 0)
            .GroupBy(b => b.Scope.Owner!.Name);
        foreach (var group in ifBodies)
        {
            var then = group.FirstOrDefault(b => b.Scope.Attribute == "then_branch");
            var otherwise = group.FirstOrDefault(b => b.Scope.Attribute == "else_branch");
            if (then.Sites is null || otherwise.Sites is null) continue;
            string? Weight(GraphIndex view, SteeringSite s) => view.Node(s.ProjectionNode) is { Input.Count: > 1 } n ? n.Input[1] : null;
            foreach (var t in then.Sites)
            {
                var weight = Weight(then.View, t);
                if (weight is null || then.View.Initializer(weight) is null) continue;
                var e = otherwise.Sites.FirstOrDefault(o => o.Kind == t.Kind && o.Layer == t.Layer && o.Width == t.Width
                                                            && o.ElementType == t.ElementType && Weight(otherwise.View, o) == weight);
                if (e is null) continue;
                result.Add(t with
                {
                    Evidence = $"{t.Evidence}; in both branches of If '{group.Key}'",
                    Branches =
                    [
                        new SiteBranch(group.Key, "then_branch", t.ProjectionNode, t.ValueName, t.BiasAddNode),
                        new SiteBranch(group.Key, "else_branch", e.ProjectionNode, e.ValueName, e.BiasAddNode),
                    ],
                });
            }
            if (result.Count > 0) break;
        }
        return result.OrderBy(s => s.Kind).ThenBy(s => s.Layer).ToList();
    }

    /// <summary>
    /// The sites whose projections are among the last <paramref name="ownNodes"/> nodes of <paramref name="graph"/>
    /// (earlier nodes belong to enclosing scopes and only help to resolve values); unusable ones go to <paramref name="unsupported"/>.
    /// </summary>
    private static List<SteeringSite> ScanGraph(GraphProto graph, int ownNodes, string location, List<string> warnings,
        List<UnsupportedSite> unsupported)
    {
        var patterns = new GraphPatterns(new GraphIndex(graph));
        var firstOwn = graph.Node.Count - ownNodes;
        var projections = graph.Node.Select((node, order) => order < firstOwn ? null : Projection.TryRead(node, order, patterns))
            .OfType<Projection>().ToList();
        var byOutput = new Dictionary<string, Projection>(StringComparer.Ordinal);
        foreach (var p in projections) byOutput.TryAdd(p.Output, p);
        // An expression stops at a projection's output even where that output is an elementwise op (the rescaling Mul
        // of an int8 MatMulInteger), so act(gate)*up still has the two leaves gate and up.
        patterns.ProjectionOutputs.UnionWith(byOutput.Keys);

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
        var (attnSeveral, mlpSeveral) = (SeveralPerLayer(attn), SeveralPerLayer(mlp));
        var attnLayers = attnSeveral?.Layers ?? NumberLayers(attn, warnings);
        var mlpLayers = mlpSeveral?.Layers ?? NumberLayers(mlp, warnings);
        void Add(Candidate candidate, int index, int layer, SiteKind kind)
        {
            var why = (kind == SiteKind.Attn ? attnSeveral : mlpSeveral)?.Reasons[index]
                      ?? (kind == SiteKind.MlpOut ? BiasFusedAfter(candidate.Projection, patterns) : candidate.Projection.InputUnsupported);
            if (why is not null)
            {
                var p = candidate.Projection;
                unsupported.Add(new UnsupportedSite($"{kind.ToName()}.{layer}", kind, p.Node.Name, p.Node.OpType, kind == SiteKind.MlpOut ? p.Output : p.Activation, location, why, candidate.Evidence));
                return;
            }
            AddSite(sites, warnings, patterns, candidate, layer, kind);
        }
        for (var i = 0; i < attn.Count; i++) Add(attn[i], i, attnLayers[i], SiteKind.Attn);
        for (var i = 0; i < mlp.Count; i++)
        {
            Add(mlp[i], i, mlpLayers[i], SiteKind.Mlp);
            Add(mlp[i], i, mlpLayers[i], SiteKind.MlpOut);
        }

        RefuseFusedExperts(graph, firstOwn, location, unsupported);
        WarnAboutNames(attn.Concat(mlp).ToList(), projections, warnings);
        if (attn.Count > 0 && mlp.Count > 0 && attn.Count != mlp.Count)
            warnings.Add($"found {attn.Count} attention output projections but {mlp.Count} MLP down projections; layers may not line up");

        return sites.OrderBy(s => s.Kind).ThenBy(s => s.Layer).ToList();
    }

    /// <summary>
    /// A fused mixture of experts (the onnxruntime-genai builder's com.microsoft MoE / QMoE) holds every expert's
    /// projections inside one node: no down projection's input is a value of the graph, and the node's output is the
    /// router-weighted sum of several down projections. Each such layer's mlp and mlp-out are refused, naming the op.
    /// </summary>
    private static void RefuseFusedExperts(GraphProto graph, int firstOwn, string location, List<UnsupportedSite> unsupported)
    {
        for (var i = firstOwn; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            if (node.OpType is not ("MoE" or "QMoE") || node.Domain != "com.microsoft" || node.Output.Count == 0) continue;
            var layer = LayerNames.LayerOf(node.Name) ?? unsupported.Count(u => u.ProjectionOpType == node.OpType && u.Kind == SiteKind.Mlp);
            var what = $"com.microsoft {node.OpType} '{node.Name}'";
            unsupported.Add(new UnsupportedSite($"mlp.{layer}", SiteKind.Mlp, node.Name, node.OpType, "", location,
                $"the experts' down projections are inside the fused {what}: their inputs are never values of the graph", FusedExpertsEvidence));
            unsupported.Add(new UnsupportedSite($"mlp-out.{layer}", SiteKind.MlpOut, node.Name, node.OpType, node.Output[0], location,
                $"the output of the fused {what} is the router-weighted sum of several experts' down projections, not one down projection's output; " +
                "a profile steers one site of a kind per layer", FusedExpertsEvidence));
        }
    }

    private const string FusedExpertsEvidence = "a fused mixture of experts";

    /// <summary>
    /// A graph to search a subgraph in: the enclosing scopes' initializers, value types and nodes (a body may read
    /// weights and values of its parents) followed by the subgraph's own nodes, of which there are <paramref name="ownNodes"/>.
    /// The messages are shared, not copied.
    /// </summary>
    private static GraphProto ScopeView(GraphScope scope, out int ownNodes)
    {
        var chain = new List<GraphScope>();
        for (var s = scope; s is not null; s = s.Parent) chain.Insert(0, s);
        var view = new GraphProto { Name = scope.Graph.Name };
        foreach (var s in chain)
        {
            view.Initializer.Add(s.Graph.Initializer);
            view.ValueInfo.Add(s.Graph.ValueInfo);
            if (s != scope) view.ValueInfo.Add(s.Graph.Input.Concat(s.Graph.Output));
            if (s != scope) view.Node.Add(s.Graph.Node);
        }
        view.Input.Add(scope.Graph.Input);
        view.Output.Add(scope.Graph.Output);
        view.Node.Add(scope.Graph.Node);
        ownNodes = scope.Graph.Node.Count;
        return view;
    }

    /// <summary>
    /// The one-line explanation given when a graph has no site: what was looked for, what the graph holds, the places
    /// that looked like sites grouped by why they were not used (a few examples each, so the line stays short for any
    /// number of layers), and what to try.
    /// </summary>
    public static string NoSitesMessage(string source, SiteReport report) => NoSitesMessage(source, report, null);

    /// <inheritdoc cref="NoSitesMessage(string, SiteReport)"/>
    /// <param name="source">Names the model.</param>
    /// <param name="report">What the finder saw.</param>
    /// <param name="graph">The graph searched, to say what it holds (op counts); null to leave that out.</param>
    public static string NoSitesMessage(string source, SiteReport report, GraphProto? graph)
    {
        const int Examples = 2;
        var parts = new List<string> { $"{source}: no steering site found: {WhatWasLookedFor}" };
        if (graph is not null) parts.Add($"seen: {GraphContents.Describe(graph)}");
        foreach (var group in report.Unsupported.GroupBy(u => u.Reason))
        {
            var list = group.ToList();
            var examples = string.Join(", ", list.Take(Examples).Select(u => $"{u.Id} '{u.ProjectionNode}' ({u.ProjectionOpType}) in {u.Location}"));
            var more = list.Count > Examples ? $" and {list.Count - Examples} more" : "";
            parts.Add($"{list.Count} place(s) with the structure of a site not used because {group.Key}: {examples}{more}");
        }
        var other = report.Warnings.Where(w => !report.Unsupported.Any(u => w.ToString().StartsWith($"{u.Id} in {u.Location}:", StringComparison.Ordinal))).ToList();
        if (other.Count > 0)
            parts.Add($"notes: {string.Join("; ", other.Take(Examples))}{(other.Count > Examples ? $" and {other.Count - Examples} more" : "")}");
        if (graph is not null && GraphContents.Advice(graph) is { } advice) parts.Add($"try: {advice}");
        else parts.Add("try: another export of the same model (a float model.onnx, decoder_with_past_model.onnx, or an onnxruntime-genai folder)");
        return string.Join("; ", parts);
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
            if (gateOut == upOut) continue;
            if (FusedGateUp(gateOut, upOut, graph, byOutput) is { } fused) return fused;
            if (!byOutput.TryGetValue(gateOut, out var gate) || !byOutput.TryGetValue(upOut, out var up)) continue;
            if (graph.SkipShapeOps(gate.Activation) != graph.SkipShapeOps(up.Activation))
                warnings.Add($"'{projection.Node.Name}': gate '{gate.Node.Name}' and up '{up.Node.Name}' projections read different inputs; treated as a gated MLP anyway");
            return $"input is act(gate)*up, gate = {gate.Node.OpType} '{gate.Node.Name}', up = {up.Node.OpType} '{up.Node.Name}'";
        }
        return null;
    }

    /// <summary>
    /// Evidence for m = act(gate)·up where gate and up are two different parts (Split outputs or Slices on the last
    /// axis) of one fused gate_up projection, as Phi-3 exports write it; null otherwise.
    /// </summary>
    private static string? FusedGateUp(string gateOut, string upOut, GraphPatterns graph, IReadOnlyDictionary<string, Projection> byOutput)
    {
        if (graph.PartOf(gateOut) is not { } gate || graph.PartOf(upOut) is not { } up) return null;
        var source = graph.SkipShapeOps(gate.Source);
        if (source != graph.SkipShapeOps(up.Source) || !byOutput.TryGetValue(source, out var fused)) return null;
        if (gate.Splitter == up.Splitter && gate.Index == up.Index) return null;
        // A cut along tokens or heads is not a gate/up split.
        if (graph.CutsLastAxis(gate) == false || graph.CutsLastAxis(up) == false) return null;
        var how = gate.Splitter == up.Splitter ? $"{gate.Splitter.OpType} '{gate.Splitter.Name}'" : $"Slices '{gate.Splitter.Name}', '{up.Splitter.Name}'";
        return $"input is act(gate)*up from fused gate_up = {fused.Node.OpType} '{fused.Node.Name}' cut by {how}";
    }

    /// <summary>
    /// Layer numbers for candidates of one kind, in graph order: from names when every candidate has a distinct number,
    /// else 0, 1, 2, ... by order of appearance.
    /// </summary>
    /// <summary>
    /// When the names give every candidate of a kind a layer and some layer has several (a mixture of experts: one
    /// down_proj per expert; an encoder–decoder's decoder: self- and cross-attention output projections), the layers
    /// the names give and the reason none of them is a site: a profile holds one site of a kind per layer, and
    /// numbering them by order would give them other layers' numbers. Null otherwise.
    /// </summary>
    private static (int[] Layers, string[] Reasons)? SeveralPerLayer(List<Candidate> candidates)
    {
        var named = candidates.Select(c => LayerFromNames(c.Projection)).ToList();
        if (candidates.Count == 0 || named.Any(n => n is null)) return null;
        var layers = named.Select(n => n!.Value).ToArray();
        var groups = layers.Distinct().ToDictionary(l => l, l => candidates.Where((_, i) => layers[i] == l).ToList());
        var most = groups.MaxBy(g => g.Value.Count).Key;
        if (groups[most].Count < 2) return null;
        var (what, why) = candidates[0].Kind == SiteKind.Attn
            ? ("attention output", "self- and cross-attention, as in an encoder–decoder's decoder")
            : ("MLP down", "a mixture of experts, one down projection per expert");
        string Reason(int layer)
        {
            var shown = groups[layer].Count > 1 ? layer : most;
            var examples = string.Join(", ", groups[shown].Take(2).Select(c => $"'{c.Projection.Node.Name}'"));
            return $"layer {shown} has {groups[shown].Count} {what} projections ({examples}: {why}); a profile steers one site of a kind per layer, so none of them is steered";
        }
        return (layers, layers.Select(Reason).ToArray());
    }

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
        string? edge;
        int width;
        if (kind == SiteKind.MlpOut)
        {
            (value, biasAdd) = OutputAsConsumed(p, graph);
            width = p.OutputWidth > 0 ? p.OutputWidth : LastDim(graph, p.Output);
            edge = biasAdd is null && !ReferenceEquals(p.OutputNode, p.Node) ? p.OutputNode.Name : null;
        }
        else
        {
            value = p.Activation;
            width = p.InputWidth > 0 ? p.InputWidth : LastDim(graph, p.Activation);
            edge = !ReferenceEquals(p.InputNode, p.Node) ? p.InputNode.Name : null;
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
            EdgeNode = edge,
            Evidence = candidate.Evidence,
        });
    }

    /// <summary>
    /// Why the down projection's output cannot be an mlp-out site, or null: the onnxruntime transformer optimizer fuses
    /// its bias and the residual add into com.microsoft SkipLayerNormalization / SkipSimplifiedLayerNormalization, so the
    /// output with its bias (what a hook on the biased Linear sees) is never a value of the graph.
    /// </summary>
    private static string? BiasFusedAfter(Projection p, GraphPatterns graph)
    {
        foreach (var reader in graph.Index.Consumers(p.Output))
        {
            var biasSlot = reader.OpType switch { "SkipLayerNormalization" => 4, "SkipSimplifiedLayerNormalization" => 3, _ => -1 };
            if (biasSlot > 0 && reader.Input.Count > biasSlot && reader.Input[biasSlot].Length > 0 && reader.Input.IndexOf(p.Output) is 0 or 1)
                return $"its bias is added inside {reader.Domain}.{reader.OpType} '{reader.Name}' (the onnxruntime transformer optimizer's " +
                       "fusion), so the biased output is not a value of the graph; steer mlp, or use the model before optimisation";
        }
        return null;
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
