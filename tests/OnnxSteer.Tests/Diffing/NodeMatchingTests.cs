using Onnx;
using OnnxSteer.Diffing;
using OnnxSteer.ModelFiles;
using Xunit;

namespace OnnxSteer.Tests.Diffing;

public class NodeMatchingTests
{
    private static OnnxModel Model(Action<GraphProto>? edit = null)
    {
        var m = DiffFixtures.Base();
        edit?.Invoke(m.Graph);
        return new OnnxModel(m);
    }

    [Fact]
    public void Every_node_and_value_renamed_is_matched_by_structure()
    {
        var renamed = Model(g =>
        {
            var names = new Dictionary<string, string>();
            foreach (var n in g.Node)
            {
                n.Name = "renamed" + n.Name;
                for (var i = 0; i < n.Output.Count; i++)
                    if (g.Output.All(o => o.Name != n.Output[i])) n.Output[i] = names[n.Output[i]] = "v" + names.Count;
            }
            foreach (var n in g.Node)
                for (var i = 0; i < n.Input.Count; i++)
                    if (names.TryGetValue(n.Input[i], out var to)) n.Input[i] = to;
        });
        var report = ModelDiffer.Compare(Model(), renamed);
        Assert.Equal(16, report.Nodes.Renamed.Count);
        Assert.Empty(report.Nodes.Added);
        Assert.Empty(report.Nodes.Removed);
        Assert.Empty(report.EdgesRewired);
        Assert.Empty(report.Nodes.Changed);
    }

    [Fact]
    public void Removed_node_and_changed_op_type_are_reported()
    {
        var edited = Model(g =>
        {
            g.Node.Single(n => n.Name == "/model/layers.1/mlp/act_fn/Sigmoid").OpType = "Tanh";
            var softmax = g.Node.Single(n => n.Name == "/probs/Softmax");
            g.Node.Remove(softmax);
        });
        var report = ModelDiffer.Compare(Model(), edited);
        Assert.Equal("/probs/Softmax", Assert.Single(report.Nodes.Removed).Name);
        var change = Assert.Single(report.Nodes.Changed);
        Assert.Equal(new NodeFieldChange("op_type", null, "Sigmoid", "Tanh"), Assert.Single(change.Changes));
    }
}
