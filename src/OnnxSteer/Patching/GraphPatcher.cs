using Google.Protobuf;
using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.ModelFiles;
using OnnxSteer.Sites;
using static OnnxSteer.ErrorText;

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
    /// <summary>
    /// Applies <paramref name="plan"/> to a copy of <paramref name="model"/>, the graph the plan is addressed to (a
    /// steered one when stacking: <see cref="SteeringPlanner"/> decided that); the new step joins any recorded before.
    /// </summary>
    /// <exception cref="OnnxSteerException">The plan does not match the graph.</exception>
    public static PatchResult Apply(OnnxModel model, SteeringPlan plan, PatchOptions options)
    {
        var source = model.FilePath ?? "model";
        var steps = SteeringMetadata.Read(model.Proto, source).ToList();
        if (plan.Sites.Count == 0) throw new InvalidProfileException($"{source}: the plan steers no site");
        if (options.Dynamic && plan.Sites.Any(s => s.Gate is null))
            throw new ArgumentException("a dynamic patch needs a probe on every site: attach them with DynamicGate.Attach");

        var proto = model.Proto.Clone();
        var notes = new List<string>();
        var folded = new List<string>();
        var edits = new List<SiteEdit>();
        var editor = new GraphEditor(proto.Graph);
        var scopes = new BranchEditors(editor);
        byte[] data(TensorProto t) => TensorData.ReadBytes(t, model.BaseDirectory, source);

        foreach (var site in plan.Sites)
        {
            foreach (var (place, local, _) in scopes.Places(site.Site, why => new InvalidModelException($"{source}: site {site.Site.Id}: {why}")))
                CheckSite(place.Index, local, source);
            if (options.Fold && plan.Operation == SteeringOperation.Scale)
            {
                var fold = WeightFolder.TryFold(scopes, site, data, out var reason);
                if (fold is not null)
                {
                    edits.Add(fold.Edit);
                    folded.AddRange(fold.Tensors.Where(t => !folded.Contains(t)));
                    continue;
                }
                notes.Add($"{site.Site.Id}: not folded ({reason}); inserted a Mul instead");
            }
            else if (options.Fold)
            {
                notes.Add($"{site.Site.Id}: additive steering cannot be folded into a weight; inserted an Add instead");
            }
            edits.Add(site.Site.InBranches
                ? InsertInBranches(scopes, site, plan.Operation, options.Switchable, options.Dynamic, source)
                : InsertNode(editor, site, plan.Operation, options.Switchable, options.Dynamic));
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
    private static void CheckSite(GraphIndex graph, SteeringSite site, string source)
    {
        _ = graph.Node(site.ProjectionNode)
            ?? throw new InvalidModelException($"{source}: site {site.Id}: projection node '{site.ProjectionNode}' is not in the graph");
        var edgeName = EdgeNode(site);
        var node = graph.Node(edgeName)
                   ?? throw new InvalidModelException($"{source}: site {site.Id}: node '{edgeName}' is not in the graph");
        var ok = site.Kind == SiteKind.MlpOut ? node.Output.Contains(site.ValueName) : node.Input.Contains(site.ValueName);
        if (!ok)
            throw new InvalidModelException(
                $"{source}: site {site.Id}: node '{edgeName}' does not {(site.Kind == SiteKind.MlpOut ? "produce" : "read")} '{site.ValueName}'");
        if (!ElementEncoding.IsSupported(site.ElementType))
            throw new InvalidModelException($"{source}: site {site.Id} has element type {ElementEncoding.Name(site.ElementType)}; only float32, float16 and bfloat16 can be steered");
    }

    /// <summary>One lookup by name in a graph that is not being edited (scans it; build a <see cref="GraphIndex"/> for several).</summary>
    /// <summary>
    /// The node whose edge carries the site's value: the projection, or for mlp-out behind a constant bias Add
    /// (MatMul + Add, like a biased nn.Linear) that Add, so the steered value is the projection's output with its bias.
    /// </summary>
    internal static string EdgeNode(SteeringSite site) =>
        site.Kind == SiteKind.MlpOut && site.BiasAddNode is { Length: > 0 } add ? add : site.EdgeNode ?? site.ProjectionNode;

    /// <summary>
    /// Adds the site's constant (and its switch and gate, when asked) and the steering node. The node sits right before
    /// the projection (attn, mlp) or right after the projection and the nodes computing its factor (mlp-out).
    /// </summary>
    private static SiteEdit InsertNode(GraphEditor editor, SiteSteering steering, SteeringOperation op, bool switchable, bool dynamic)
    {
        var site = steering.Site;
        var projection = editor.Node(EdgeNode(site))!;
        var prefix = editor.Names.FreePrefix(SteerPrefix(site));
        var opType = OpName(op);
        var outputEdge = site.Kind == SiteKind.MlpOut;

        var initName = AddVector(editor, steering, op, prefix);
        SwitchEdit? switchEdit = null;
        if (switchable)
        {
            var (edit, nodes) = SwitchableSteering.Insert(editor, steering, op, initName, prefix);
            if (outputEdge) editor.InsertAfter(projection, [.. nodes]);
            else editor.InsertBefore(projection, [.. nodes]);
            switchEdit = edit;
        }
        var factor = switchEdit?.Factor ?? initName;

        // mlp-out: the projection writes a new value, and the steering node writes the old name, so every reader
        // (graph outputs and subgraphs included) sees the steered value and nothing else needs rewiring.
        var unsteered = outputEdge ? editor.Names.Fresh($"{prefix}/{opType}/input_0") : null;
        if (unsteered is not null) editor.RenameOutput(site.ValueName, unsteered);
        GateEdit? gateEdit = null;
        if (dynamic)
        {
            gateEdit = DynamicGate.Insert(editor, steering, op, factor, unsteered ?? site.ValueName, prefix);
            factor = gateEdit.Factor;
        }

        if (unsteered is not null)
        {
            var node = editor.NewNode(opType, $"{prefix}/{opType}", [unsteered, factor], outputs: 0);
            node.Output.Add(site.ValueName);
            editor.AddNode(node);
            return new SiteEdit
            {
                Site = site.Id, Kind = EditKind.OutputEdge, Projection = site.ProjectionNode, Node = node.Name,
                Initializer = initName, Input = unsteered, Output = site.ValueName, Units = steering.Units.Count, Switch = switchEdit,
                Gate = gateEdit,
            };
        }

        // Only the projection's own input is rewired: another reader of the same value keeps the original.
        var mul = editor.NewNode(opType, $"{prefix}/{opType}", [site.ValueName, factor]);
        editor.InsertOnEdge(site.ValueName, mul, [projection]);
        return new SiteEdit
        {
            Site = site.Id, Kind = EditKind.InputEdge, Projection = site.ProjectionNode, Node = mul.Name,
            Initializer = initName, Input = site.ValueName, Output = mul.Output[0], Units = steering.Units.Count, Switch = switchEdit,
            Gate = gateEdit,
        };
    }

    /// <summary>The site's vector as a constant named <c>prefix.scale</c> (or <c>.bias</c>) in the site's element type; returns its name.</summary>
    private static string AddVector(GraphEditor editor, SiteSteering steering, SteeringOperation op, string prefix)
    {
        var site = steering.Site;
        var constant = new TensorProto
        {
            Name = prefix + (op == SteeringOperation.Scale ? ".scale" : ".bias"),
            DataType = site.ElementType,
            RawData = ByteString.CopyFrom(ElementEncoding.Encode(steering.Vector, site.ElementType)),
        };
        constant.Dims.Add(site.Width);
        return editor.AddInitializer(constant);
    }

    /// <summary>
    /// A site that lives in both branches of an If: one constant in the main graph (and, when switchable, the switch's
    /// nodes there, before the If), and in each branch the same steering node reading it from the outer scope; a dynamic
    /// gate reads each branch's own unsteered value, so it is built inside the branch.
    /// </summary>
    private static SiteEdit InsertInBranches(BranchEditors scopes, SiteSteering steering, SteeringOperation op, bool switchable, bool dynamic, string source)
    {
        var site = steering.Site;
        var main = scopes.Main;
        Exception Missing(string why) => new InvalidModelException($"{source}: site {site.Id}: {why}");
        var prefix = main.Names.FreePrefix(SteerPrefix(site));
        var opType = OpName(op);
        var initName = AddVector(main, steering, op, prefix);
        SwitchEdit? switchEdit = null;
        if (switchable)
        {
            var (edit, nodes) = SwitchableSteering.Insert(main, steering, op, initName, prefix);
            main.InsertBefore(scopes.IfNode(site.Branches[0].IfNode, Missing), [.. nodes]);
            switchEdit = edit;
        }
        var shared = switchEdit?.Factor ?? initName;

        var branches = new List<BranchEdit>();
        foreach (var (editor, local, branch) in scopes.Places(site, Missing))
        {
            var projection = editor.Node(EdgeNode(local))!;
            var outputEdge = site.Kind == SiteKind.MlpOut;
            var unsteered = outputEdge ? editor.Names.Fresh($"{prefix}/{opType}/input_0") : null;
            if (unsteered is not null) editor.RenameOutput(local.ValueName, unsteered);
            var factor = shared;
            GateEdit? gate = null;
            if (dynamic)
            {
                gate = DynamicGate.Insert(editor, steering with { Site = local }, op, factor, unsteered ?? local.ValueName, prefix);
                factor = gate.Factor;
            }
            NodeProto node;
            if (unsteered is not null)
            {
                node = editor.NewNode(opType, $"{prefix}/{opType}", [unsteered, factor], outputs: 0);
                node.Output.Add(local.ValueName);
                editor.AddNode(node);
            }
            else
            {
                node = editor.NewNode(opType, $"{prefix}/{opType}", [local.ValueName, factor]);
                editor.InsertOnEdge(local.ValueName, node, [projection]);
            }
            branches.Add(new BranchEdit
            {
                If = branch!.IfNode, Branch = branch.Attribute, Node = node.Name, Input = node.Input[0], Output = node.Output[0], Gate = gate,
            });
        }
        // The branches now read the constant (or the switch's factor) from the main graph.
        main.Index.SubgraphReadsChanged();
        return new SiteEdit
        {
            Site = site.Id, Kind = site.Kind == SiteKind.MlpOut ? EditKind.OutputEdge : EditKind.InputEdge, Projection = site.ProjectionNode,
            Initializer = initName, Units = steering.Units.Count, Switch = switchEdit, Branches = branches,
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
}
