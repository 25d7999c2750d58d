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
    [Fact]
    public void FreePrefixSkipsPrefixesUsedInSubgraphsAndReservesWhatItGives()
    {
        var m = GraphValidatorTests.IfModel(branchReads: "XW");
        var then = m.Graph.Node.Single(n => n.OpType == "If").Attribute[0].G;
        then.Node.Add(Node("Identity", ["then_out"], ["a/steer/Mul/output_0"], "a/steer/Mul"));
        then.Initializer.Add(TensorData.FromFloats("b/steer.scale", [1], [1f]));
        then.Node.Add(Node("Identity", ["then_out"], ["d/steerage"], "d/steerage_node"));
        var names = new UniqueNames(m.Graph);

        Assert.Equal("a/steer_2", names.FreePrefix("a/steer"));   // a node and a value under a/steer/ in the branch
        Assert.Equal("b/steer_2", names.FreePrefix("b/steer"));   // an initializer b/steer.scale in the branch
        Assert.Equal("d/steer", names.FreePrefix("d/steer"));     // d/steerage is not under d/steer
        Assert.Equal("a/steer_3", names.FreePrefix("a/steer"));   // a/steer_2 was reserved by the first call
        names.Reserve("e/steer/Mul");
        Assert.Equal("e/steer_2", names.FreePrefix("e/steer"));   // names reserved later count too
        Assert.Equal("e/steer_2/Mul", names.Fresh("e/steer_2/Mul"));
    }

    [Fact]
    public void TheEditorsIndexStaysEqualToAFreshIndexThroughEveryKindOfEdit()
    {
        var m = GraphValidatorTests.IfModel(branchReads: "XW");
        var g = m.Graph;
        var editor = new GraphEditor(g);
        var matmul = editor.Node("matmul")!;
        var add = editor.Node("add")!;

        var scale = editor.AddInitializer(TensorData.FromFloats("s", [4], [1f, 2f, 3f, 4f]));
        var mul = editor.NewNode("Mul", "mul", ["XW", scale]);
        editor.InsertOnEdge("XW", mul, [add]);
        AssertIndexIsCurrent(m, editor);
        Assert.Same(mul, editor.Index.Producer(mul.Output[0]));
        Assert.Equal([add], editor.Index.Consumers(mul.Output[0]));
        Assert.Equal(g.Node.IndexOf(add) - 1, g.Node.IndexOf(mul));   // right before its reader

        var renamed = editor.RenameOutput("XW", "XW_raw");
        Assert.Same(matmul, renamed);
        var relu = editor.NewNode("Relu", "relu", ["XW_raw"], ["XW"]);
        Assert.Equal("XW_1", relu.Output[0]);                        // XW is still a used name
        relu.Output[0] = "XW";
        editor.AddNode(relu);
        Assert.Equal(g.Node.IndexOf(matmul) + 1, g.Node.IndexOf(relu));
        AssertIndexIsCurrent(m, editor);

        editor.AddGraphInput(FloatValue("extra", 4));
        editor.AddGraphOutput(FloatValue(mul.Output[0], 2, 4));
        var neg = editor.NewNode("Neg", "neg", [mul.Output[0]]);
        editor.InsertOnEdge(mul.Output[0], neg, [], graphOutput: true);
        AssertIndexIsCurrent(m, editor);

        Assert.Equal(2, editor.RenameUses("XW", "XW_raw"));          // the Mul and the If's branch read XW
        Assert.Empty(editor.Index.SubgraphConsumers("XW"));
        editor.RemoveNode(relu);
        var spare = editor.AddInitializer(TensorData.FromFloats("s", [1], [0f]));
        Assert.Equal("s_1", spare);
        Assert.True(editor.RemoveInitializer(spare));
        Assert.False(editor.RemoveInitializer(spare));
        Assert.True(editor.RemoveGraphInput("extra"));
        Assert.True(editor.RemoveGraphOutput("if_out"));
        Assert.True(editor.SetInitializer(TensorData.FromFloats("W", [3, 4], new float[12])));
        Assert.False(editor.SetInitializer(TensorData.FromFloats("fresh", [1], [0f])));
        AssertIndexIsCurrent(m, editor);
        Assert.Null(editor.Node("relu"));
        Assert.Null(editor.Index.Producer("XW"));
    }

    /// <summary>Every lookup of the editor's index answers as an index built now from the graph would.</summary>
    private static void AssertIndexIsCurrent(ModelProto model, GraphEditor editor)
    {
        var fresh = new GraphIndex(editor.Graph);
        var index = editor.Index;
        var values = editor.Graph.Node.SelectMany(n => n.Input.Concat(n.Output))
            .Concat(editor.Graph.Initializer.Select(t => t.Name))
            .Concat(editor.Graph.Input.Concat(editor.Graph.Output).Select(v => v.Name))
            .Concat(["XW", "XW_raw", "s", "s_1", "extra", "relu"]).Distinct().ToList();
        foreach (var v in values)
        {
            Assert.Same(fresh.Producer(v), index.Producer(v));
            Assert.Equal(fresh.Consumers(v).ToHashSet(), index.Consumers(v).ToHashSet());
            Assert.Equal(fresh.SubgraphConsumers(v), index.SubgraphConsumers(v));
            Assert.Same(fresh.Initializer(v), index.Initializer(v));
            Assert.Same(fresh.ValueInfo(v), index.ValueInfo(v));
            Assert.Equal(fresh.IsGraphInput(v), index.IsGraphInput(v));
            Assert.Equal(fresh.IsGraphOutput(v), index.IsGraphOutput(v));
            Assert.Same(fresh.Node(v), index.Node(v));
        }
        foreach (var n in editor.Graph.Node) Assert.Same(fresh.Node(n.Name), index.Node(n.Name));
        Assert.Equal(Array.Empty<string>(), GraphValidator.Check(model, ValidationOptions.Strict));
    }
}
