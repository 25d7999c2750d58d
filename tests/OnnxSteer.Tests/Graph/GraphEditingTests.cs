using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.ModelFiles;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using static OnnxSteer.Tests.ModelFiles.TestModels;

namespace OnnxSteer.Tests.Graph;

public sealed class GraphEditingTests
{
    [SharedFact]
    public void IndexAnswersProducersConsumersAndTypesOnTheGenaiModel()
    {
        var model = OnnxModel.Load(SharedData.TinyGenaiModelDir);
        var index = new GraphIndex(model.Graph);
        // Every edge agrees both ways: a node's inputs are produced by their producer and list it as a consumer.
        var edges = 0;
        foreach (var node in model.Graph.Node)
        foreach (var input in node.Input.Where(i => i.Length > 0))
        {
            edges++;
            Assert.True(index.IsDefined(input), input);
            Assert.Contains(node, index.Consumers(input));
            if (index.Producer(input) is { } p) Assert.Contains(input, p.Output);
            else Assert.True(index.IsGraphInput(input) || index.Initializer(input) is not null, input);
        }
        Assert.True(edges > 50);

        var ids = index.TypeOf("input_ids")!;
        Assert.Equal((int)TensorProto.Types.DataType.Int64, ids.ElementType);
        Assert.Equal(2, ids.Shape!.Count);
        Assert.All(ids.Shape, d => Assert.NotNull(d.Param)); // symbolic batch and sequence

        var logits = index.TypeOf("logits")!;
        Assert.Equal("float16", logits.ElementTypeName);
        Assert.Equal(32000, logits.LastDimension);

        var embedding = model.Graph.Initializer.OrderByDescending(TensorData.ByteSize).First();
        var type = index.TypeOf(embedding.Name)!;
        Assert.Equal(embedding.Dims, type.Shape!.Select(d => d.Value!.Value));
        Assert.Null(index.TypeOf("no such value"));
    }

    [SharedFact]
    public void InsertingAMulBeforeOneReaderRewiresOnlyThatReader()
    {
        var model = OnnxModel.Load(SharedData.TinyGenaiModelDir);
        var graph = model.Graph;
        var oProj = graph.Node.Single(n => n.Name == "/model/layers.0/attn/o_proj/MatMul");
        var value = oProj.Input[0];
        var index = new GraphIndex(graph);
        var width = 16;

        var editor = new GraphEditor(graph);
        var scaleName = editor.AddInitializer(TensorData.FromFloats("steer.scale", [width], Enumerable.Repeat(2f, width).ToArray(), TensorProto.Types.DataType.Float16));
        var mul = editor.NewNode("Mul", "/steer/layers.0/attn/Mul", [value, scaleName]);
        var otherReaders = index.Consumers(value).Where(c => c != oProj).ToList();
        editor.InsertOnEdge(value, mul, [oProj]);

        Assert.Equal(mul.Output[0], oProj.Input[0]);
        Assert.All(otherReaders, r => Assert.Contains(value, r.Input));
        Assert.True(graph.Node.IndexOf(mul) < graph.Node.IndexOf(oProj));
        Assert.True(graph.Node.IndexOf(mul) > graph.Node.IndexOf(index.Producer(value)!));
        Assert.Equal(Array.Empty<string>(), GraphValidator.Check(model.Proto));
        var after = new GraphIndex(graph);
        Assert.Equal([oProj], after.Consumers(mul.Output[0]));
        Assert.Same(mul, after.Producer(mul.Output[0]));
    }

    [SharedFact]
    public void InsertingBeforeAGraphOutputKeepsTheOutputName()
    {
        var model = OnnxModel.Load(SharedData.TinyGenaiModelDir);
        var graph = model.Graph;
        var index = new GraphIndex(graph);
        var producer = index.Producer("logits")!;
        var editor = new GraphEditor(graph);
        var node = editor.NewNode("Identity", "/steer/logits/Identity", ["logits"]);
        editor.InsertOnEdge("logits", node, [], graphOutput: true);

        Assert.Equal("logits", node.Output[0]);
        Assert.Equal(node.Input[0], producer.Output[0]);
        Assert.NotEqual("logits", producer.Output[0]);
        Assert.Contains(graph.Output, o => o.Name == "logits");
        Assert.Equal(Array.Empty<string>(), GraphValidator.Check(model.Proto));
    }

    [Fact]
    public void AGraphOutputWithOtherReadersMovesThoseReadersToTheOldValue()
    {
        var m = MatMulAdd();
        // XW is also a graph output here, read by 'add' (not chosen) and by an If branch (outer scope).
        m = GraphValidatorTests.IfModel(branchReads: "XW");
        m.Graph.Output.Add(FloatValue("XW", 2, 4));
        var editor = new GraphEditor(m.Graph);
        var neg = editor.NewNode("Neg", "neg", ["XW"]);
        editor.InsertOnEdge("XW", neg, [], graphOutput: true);

        var before = m.Graph.Node.Single(n => n.Name == "matmul").Output[0];
        Assert.Equal("XW/before_Neg", before);
        Assert.Equal("XW", neg.Output[0]);
        Assert.Equal(before, m.Graph.Node.Single(n => n.Name == "add").Input[0]);
        var ifNode = m.Graph.Node.Single(n => n.OpType == "If");
        Assert.Equal(before, ifNode.Attribute[0].G.Node[0].Input[0]);
        Assert.Equal(Array.Empty<string>(), GraphValidator.Check(m));
    }

    [Fact]
    public void NewNamesAreUniqueAcrossSubgraphs()
    {
        var m = GraphValidatorTests.IfModel(branchReads: "XW");
        var names = new UniqueNames(m.Graph);
        Assert.True(names.IsUsed("then_relu")); // only inside the then-branch
        Assert.Equal("then_relu_1", names.Fresh("then_relu"));
        Assert.Equal("then_relu_2", names.Fresh("then_relu"));
        Assert.Equal("fresh", names.Fresh("fresh"));
        Assert.Equal("fresh_1", names.Fresh("fresh"));
        var editor = new GraphEditor(m.Graph, names);
        Assert.Equal("W_1", editor.AddInitializer(TensorData.FromFloats("W", [1], [1f])));
    }

    [Fact]
    public void InsertOnEdgeRefusesNodesThatAreNotReaders()
    {
        var m = MatMulAdd();
        var editor = new GraphEditor(m.Graph);
        var relu = editor.NewNode("Relu", "relu", ["XW"]);
        var matmul = m.Graph.Node[0];
        Assert.Throws<ArgumentException>(() => editor.InsertOnEdge("XW", relu, [matmul]));
        Assert.Throws<ArgumentException>(() => editor.InsertOnEdge("XW", relu, [], graphOutput: true));
        Assert.Throws<ArgumentException>(() => editor.InsertOnEdge("X", relu, []));
    }

    [Fact]
    public void AnInsertedNodeWithALaterSecondInputIsSortedBeforeItsReader()
    {
        // Mul(XW, S) where S is produced by a node placed after 'add': the editor must re-sort.
        var m = MatMulAdd();
        m.Graph.Node.Add(Node("Relu", ["X"], ["S"], "late_relu"));
        var editor = new GraphEditor(m.Graph);
        var mul = editor.NewNode("Mul", "mul", ["XW", "S"]);
        var add = m.Graph.Node.Single(n => n.Name == "add");
        editor.InsertOnEdge("XW", mul, [add]);
        Assert.Equal(Array.Empty<string>(), GraphValidator.Check(m, ValidationOptions.Strict));
        var order = m.Graph.Node.Select(n => n.Name).ToList();
        Assert.True(order.IndexOf("late_relu") < order.IndexOf("mul") && order.IndexOf("mul") < order.IndexOf("add"), string.Join(",", order));
    }

    [Fact]
    public void TopologicalSortHandlesSubgraphReadsAsDependencies()
    {
        var m = GraphValidatorTests.IfModel(branchReads: "XW");
        // Put the If first: it reads XW through its branch, so sorting must move it after the MatMul.
        var ifNode = m.Graph.Node.Single(n => n.OpType == "If");
        m.Graph.Node.Remove(ifNode);
        m.Graph.Node.Insert(0, ifNode);
        Assert.NotEmpty(GraphValidator.Check(m, ValidationOptions.Strict));
        TopologicalOrder.SortInPlace(m.Graph);
        Assert.Equal(Array.Empty<string>(), GraphValidator.Check(m, ValidationOptions.Strict));
        Assert.Equal(["X", "XW"], Subgraphs.ImplicitInputs(ifNode).Order());
        Assert.Equal([ifNode], new GraphIndex(m.Graph).SubgraphConsumers("XW"));
        var scopes = Subgraphs.Walk(m.Graph).ToList();
        Assert.Equal(["matmul_add", "matmul_add/if.then_branch", "matmul_add/if.else_branch"], scopes.Select(s => s.Path));
        Assert.Equal([0, 1, 1], scopes.Select(s => s.Depth));
    }
}
