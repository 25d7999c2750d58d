using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.Sites;

namespace OnnxSteer.Patching;

/// <summary>
/// Editors for the places a site lives: the main graph, or each branch of a main-graph If (an Optimum merged decoder).
/// A branch editor shares the main editor's names, so a name made in one branch is never made again in another; one
/// editor per branch is kept, so its index stays current across sites.
/// </summary>
internal sealed class BranchEditors(GraphEditor main)
{
    private readonly Dictionary<(string If, string Branch), GraphEditor> _branches = new();

    /// <summary>The main graph's editor.</summary>
    public GraphEditor Main { get; } = main;

    /// <summary>The If node named <paramref name="name"/> in the main graph.</summary>
    public NodeProto IfNode(string name, Func<string, Exception> missing) =>
        Main.Node(name) is { OpType: "If" } node ? node : throw missing($"If node '{name}' is not in the main graph");

    /// <summary>The editor of branch <paramref name="branch"/> (then_branch, else_branch) of If <paramref name="ifName"/>.</summary>
    public GraphEditor Branch(string ifName, string branch, Func<string, Exception> missing)
    {
        if (_branches.TryGetValue((ifName, branch), out var editor)) return editor;
        var node = IfNode(ifName, missing);
        var graph = node.Attribute.FirstOrDefault(a => a.Name == branch)?.G ?? throw missing($"If '{ifName}' has no {branch}");
        return _branches[(ifName, branch)] = new GraphEditor(graph, Main.Names);
    }

    /// <summary>
    /// Each place of <paramref name="site"/>: its editor and the site as seen there (a branch's projection, value and
    /// bias Add, with no branches of its own). One place, the main graph, for an ordinary site.
    /// </summary>
    public IReadOnlyList<(GraphEditor Editor, SteeringSite Local, SiteBranch? Branch)> Places(SteeringSite site, Func<string, Exception> missing) =>
        site.InBranches
            ? site.Branches.Select(b => (Branch(b.IfNode, b.Attribute, missing),
                site with { ProjectionNode = b.ProjectionNode, ValueName = b.ValueName, BiasAddNode = b.BiasAddNode, Branches = [] },
                (SiteBranch?)b)).ToList()
            : [(Main, site, null)];

    /// <summary>
    /// A read-only graph in which a branch's nodes see the main graph's initializers and inputs as their own, so
    /// lookups that follow a value to its weight work across the scope boundary. Messages are shared, not copied.
    /// </summary>
    public static GraphProto View(GraphProto main, GraphProto branch)
    {
        var view = new GraphProto { Name = branch.Name };
        view.Initializer.Add(main.Initializer);
        view.Initializer.Add(branch.Initializer);
        view.Input.Add(main.Input);
        view.ValueInfo.Add(main.ValueInfo);
        view.ValueInfo.Add(branch.ValueInfo);
        view.Node.Add(branch.Node);
        view.Output.Add(branch.Output);
        return view;
    }
}
