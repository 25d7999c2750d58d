using Google.Protobuf;
using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.ModelFiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Patching;

/// <summary>The result of <see cref="GraphPatcher.Apply"/>: the steered model and what was done.</summary>
/// <param name="Model">A new model (the input is not modified), with the same base directory for external data.</param>
/// <param name="Step">The record written into the model's metadata.</param>
/// <param name="FoldedTensors">Initializers whose data was rewritten by a fold (now embedded as raw_data).</param>
/// <param name="Notes">Things the user should know, e.g. sites that could not be folded and got a Mul.</param>
internal sealed record PatchResult(OnnxModel Model, SteeringStep Step, IReadOnlyList<string> FoldedTensors, IReadOnlyList<string> Notes);

/// <summary>
/// Rewrites a graph so each planned site's activation is multiplied by its vector (or has it added).
/// <para>Pattern → replacement:</para>
/// <list type="bullet">
/// <item>attn, mlp: <c>x → P</c> becomes <c>x → Mul(x, v) → P</c>; only P's input is rewired, other readers of x see it unchanged.</item>
/// <item>mlp-out: <c>P → y → consumers</c> becomes <c>P → y' → Mul(y', v) → y → consumers</c>; every reader of y (graph outputs
/// included) sees the steered value and y keeps its name.</item>
/// <item>with fold: no node; P's weight is scaled (row i of MatMul B for input units, column j and the bias for output units).</item>
/// <item>with dynamic: the Mul (Add) reads a gated factor computed from the unsteered value instead of v (see <see cref="DynamicGate"/>).</item>
/// </list>
/// </summary>
internal static class GraphPatcher
{
    /// <summary>Applies <paramref name="plan"/> to a copy of <paramref name="model"/>.</summary>
    /// <exception cref="OnnxSteerException">The model is already steered (and the policy is Refuse), or the plan does
    /// not match the graph.</exception>
    public static PatchResult Apply(OnnxModel model, SteeringPlan plan, PatchOptions options)
    {
        var source = model.FilePath ?? "model";
        var steps = SteeringMetadata.Read(model.Proto, source).ToList();
        if (steps.Count > 0)
        {
            switch (options.Existing)
            {
                case ExistingSteering.Refuse:
                    throw new OnnxSteerException(
                        $"{source}: the model is already steered ({steps[^1].Method}, sites {string.Join(",", steps[^1].Sites)}); " +
                        "use --replace to remove that steering first, or --stack to add to it", ExitCodes.InvalidInput);
                case ExistingSteering.Replace:
                    throw new ArgumentException("Replace must be resolved before Apply: unpatch the model, find its sites, and build the plan on it");
            }
        }
        if (plan.Sites.Count == 0) throw new InvalidProfileException($"{source}: the plan steers no site");
        if (options.Fold && options.Switchable)
            throw new ArgumentException("fold and switchable cannot be combined: a folded weight has no vector to override");
        if (options.Fold && options.Dynamic)
            throw new ArgumentException("fold and dynamic cannot be combined: a folded weight cannot depend on the input");
        if (options.Dynamic && plan.Sites.Any(s => s.Gate is null))
            throw new ArgumentException("a dynamic patch needs a probe on every site: attach them with DynamicGate.Attach");

        var proto = model.Proto.Clone();
        var notes = new List<string>();
        var folded = new List<string>();
        var foldedNames = new HashSet<string>(StringComparer.Ordinal);
        var edits = new List<SiteEdit>();
        var names = new NameSet(proto.Graph);
        byte[] data(TensorProto t) => TensorData.ReadBytes(t, model.BaseDirectory, source);

        foreach (var site in plan.Sites)
        {
            CheckSite(proto.Graph, site.Site, source);
            if (options.Fold && plan.Operation == SteeringOperation.Scale)
            {
                var fold = WeightFolder.TryFold(proto.Graph, site, data, foldedNames, out var reason);
                if (fold is not null)
                {
                    edits.Add(fold.Edit);
                    folded.AddRange(fold.Tensors);
                    foldedNames.UnionWith(fold.Tensors);
                    continue;
                }
                notes.Add($"{site.Site.Id}: not folded ({reason}); inserted a Mul instead");
            }
            else if (options.Fold)
            {
                notes.Add($"{site.Site.Id}: additive steering cannot be folded into a weight; inserted an Add instead");
            }
            edits.Add(InsertNode(proto.Graph, site, plan.Operation, names, options.Switchable, options.Dynamic));
        }

        var apply = edits.All(e => e.Kind == EditKind.Fold) ? "fold"
            : edits.Any(e => e.Kind == EditKind.Fold) ? "fold+" + OpName(plan.Operation).ToLowerInvariant()
            : OpName(plan.Operation).ToLowerInvariant();
        var step = new SteeringStep
        {
            Tool = SteeringMetadata.ToolVersion,
            ProfileSha256 = plan.Provenance.ProfileSha256,
            Method = plan.Provenance.Method,
            K = plan.Provenance.K,
            Alpha = plan.Provenance.Alpha,
            Operation = plan.Operation == SteeringOperation.Scale ? "scale" : "add",
            Apply = apply,
            Sites = plan.Sites.Select(s => s.Site.Id).ToList(),
            Edits = edits,
            Switchable = options.Switchable ? true : null,
            Dynamic = options.Dynamic ? true : null,
        };
        steps.Add(step);
        SteeringMetadata.Write(proto, steps);
        return new PatchResult(new OnnxModel(proto, model.FilePath, model.BaseDirectory), step, folded, notes);
    }

    private static string OpName(SteeringOperation op) => op == SteeringOperation.Scale ? "Mul" : "Add";

    /// <summary>The plan must describe this graph: the projection exists and reads (attn, mlp) or writes (mlp-out) the value.</summary>
    private static void CheckSite(GraphProto graph, SteeringSite site, string source)
    {
        _ = FindNode(graph, site.ProjectionNode)
            ?? throw new InvalidModelException($"{source}: site {site.Id}: projection node '{site.ProjectionNode}' is not in the graph");
        var edgeName = EdgeNode(site);
        var node = FindNode(graph, edgeName)
                   ?? throw new InvalidModelException($"{source}: site {site.Id}: node '{edgeName}' is not in the graph");
        var ok = site.Kind == SiteKind.MlpOut ? node.Output.Contains(site.ValueName) : node.Input.Contains(site.ValueName);
        if (!ok)
            throw new InvalidModelException(
                $"{source}: site {site.Id}: node '{edgeName}' does not {(site.Kind == SiteKind.MlpOut ? "produce" : "read")} '{site.ValueName}'");
        if (!ElementEncoding.IsSupported(site.ElementType))
            throw new InvalidModelException($"{source}: site {site.Id} has element type {ElementEncoding.Name(site.ElementType)}; only float32, float16 and bfloat16 can be steered");
    }

    internal static NodeProto? FindNode(GraphProto graph, string name) => graph.Node.FirstOrDefault(n => n.Name == name);

    /// <summary>
    /// The node whose edge carries the site's value: the projection, or for mlp-out behind a constant bias Add
    /// (MatMul + Add, like a biased nn.Linear) that Add, so the steered value is the projection's output with its bias.
    /// </summary>
    internal static string EdgeNode(SteeringSite site) =>
        site.Kind == SiteKind.MlpOut && site.BiasAddNode is { Length: > 0 } add ? add : site.ProjectionNode;

    private static SiteEdit InsertNode(GraphProto graph, SiteSteering steering, SteeringOperation op, NameSet names, bool switchable, bool dynamic)
    {
        var site = steering.Site;
        var projection = FindNode(graph, EdgeNode(site))!;
        var prefix = names.FreePrefix(SteerPrefix(site));
        var opType = OpName(op);
        var nodeName = names.Add($"{prefix}/{opType}");
        var position = graph.Node.IndexOf(projection) + (site.Kind == SiteKind.MlpOut ? 1 : 0);

        var initName = names.Add(prefix + (op == SteeringOperation.Scale ? ".scale" : ".bias"));
        var constant = new TensorProto
        {
            Name = initName,
            DataType = site.ElementType,
            RawData = ByteString.CopyFrom(ElementEncoding.Encode(steering.Vector, site.ElementType)),
        };
        constant.Dims.Add(site.Width);
        graph.Initializer.Add(constant);
        var switchEdit = switchable ? SwitchableSteering.Insert(graph, steering, op, initName, prefix, position, names.Add) : null;
        position += switchEdit?.Nodes.Count ?? 0;
        var factor = switchEdit?.Factor ?? initName;

        // mlp-out: the projection writes a new value, and the steering node writes the old name, so every reader
        // (graph outputs and subgraphs included) sees the steered value and nothing else needs rewiring.
        string? unsteered = null;
        if (site.Kind == SiteKind.MlpOut)
        {
            unsteered = names.Add($"{prefix}/{opType}/input_0");
            projection.Output[projection.Output.IndexOf(site.ValueName)] = unsteered;
        }
        GateEdit? gateEdit = null;
        if (dynamic)
        {
            // The gate's names come from the whole model's names (GraphEditor), so they are new everywhere.
            gateEdit = DynamicGate.Insert(new GraphEditor(graph), steering, op, factor, unsteered ?? site.ValueName, prefix);
            names.Add([.. gateEdit.Nodes, .. gateEdit.Initializers]);
            factor = gateEdit.Factor;
            var gateEnd = graph.Node.IndexOf(graph.Node.First(n => n.Output.Contains(factor))) + 1;
            position = unsteered is null ? graph.Node.IndexOf(projection) : Math.Max(graph.Node.IndexOf(projection) + 1, gateEnd);
        }

        var node = new NodeProto { Name = nodeName, OpType = opType };
        if (unsteered is not null)
        {
            node.Input.Add(unsteered);
            node.Input.Add(factor);
            node.Output.Add(site.ValueName);
            graph.Node.Insert(position, node);
            return new SiteEdit
            {
                Site = site.Id, Kind = EditKind.OutputEdge, Projection = site.ProjectionNode, Node = nodeName,
                Initializer = initName, Input = unsteered, Output = site.ValueName, Units = steering.Units.Count, Switch = switchEdit,
                Gate = gateEdit,
            };
        }

        // Only the projection's own input is rewired: another reader of the same value keeps the original.
        var steered = names.Add($"{prefix}/{opType}/output_0");
        node.Input.Add(site.ValueName);
        node.Input.Add(factor);
        node.Output.Add(steered);
        for (var i = 0; i < projection.Input.Count; i++)
            if (projection.Input[i] == site.ValueName) projection.Input[i] = steered;
        graph.Node.Insert(position, node);
        return new SiteEdit
        {
            Site = site.Id, Kind = EditKind.InputEdge, Projection = site.ProjectionNode, Node = nodeName,
            Initializer = initName, Input = site.ValueName, Output = steered, Units = steering.Units.Count, Switch = switchEdit,
            Gate = gateEdit,
        };
    }

    /// <summary>
    /// <c>/model/layers.3/mlp/down_proj/MatMul</c> → <c>/model/layers.3/mlp/down_proj/steer</c>: the graph's own naming
    /// convention, so Netron and diffs group the inserted node with its projection.
    /// </summary>
    internal static string SteerPrefix(SteeringSite site)
    {
        var name = site.ProjectionNode;
        if (string.IsNullOrEmpty(name)) return $"/onnxsteer/{site.Id}/steer";
        var slash = name.LastIndexOf('/');
        return slash > 0 ? name[..slash] + "/steer" : name + "/steer";
    }

    /// <summary>Every name in use in a graph (nodes, values, initializers), so inserted names never collide.</summary>
    internal sealed class NameSet
    {
        private readonly HashSet<string> _names = new(StringComparer.Ordinal);

        public NameSet(GraphProto graph)
        {
            foreach (var n in graph.Node)
            {
                _names.Add(n.Name);
                foreach (var v in n.Input) _names.Add(v);
                foreach (var v in n.Output) _names.Add(v);
            }
            foreach (var i in graph.Initializer) _names.Add(i.Name);
            foreach (var v in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo)) _names.Add(v.Name);
        }

        /// <summary><paramref name="prefix"/>, or prefix_2, prefix_3... when something already uses it (stacked steering).</summary>
        public string FreePrefix(string prefix)
        {
            bool Used(string p) => _names.Any(n => n.StartsWith(p + "/", StringComparison.Ordinal) || n.StartsWith(p + ".", StringComparison.Ordinal) || n == p);
            if (!Used(prefix)) return prefix;
            for (var i = 2; ; i++)
                if (!Used($"{prefix}_{i}")) return $"{prefix}_{i}";
        }

        public string Add(params string[] names)
        {
            foreach (var n in names) _names.Add(n);
            return names[^1];
        }
    }
}
