using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.ModelFiles;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.ModelFiles;
using Xunit;
using Xunit.Abstractions;
using static OnnxSteer.Tests.ModelFiles.TestModels;

namespace OnnxSteer.Tests.Graph;

public sealed class GraphValidatorTests(ITestOutputHelper output)
{
    [LibOnnxFact]
    public void EveryLibOnnxGraphIsValidAndAlreadySorted()
    {
        var files = LibOnnxRoundTripTests.ModelFiles();
        Assert.Equal(LibOnnxRoundTripTests.ExpectedModelCount, files.Length);
        int withSubgraphs = 0, readingOuterScope = 0, withFunctions = 0;
        var problems = new List<string>();
        foreach (var file in files)
        {
            var model = OnnxModel.Load(file);
            problems.AddRange(GraphValidator.Check(model.Proto, ValidationOptions.Strict).Select(p => $"{file}: {p}"));
            foreach (var scope in Subgraphs.Walk(model.Graph))
                Assert.Equal(scope.Graph.Node, TopologicalOrder.Sort(scope.Graph)); // sorted graphs come back unchanged
            var scopes = Subgraphs.Walk(model.Graph).ToList();
            if (scopes.Count > 1) withSubgraphs++;
            if (scopes.Skip(1).Any(s => Subgraphs.OuterReferences(s.Graph).Count > 0)) readingOuterScope++;
            if (model.Proto.Functions.Count > 0) withFunctions++;
        }
        output.WriteLine($"{files.Length} graphs valid; {withSubgraphs} with subgraphs, {readingOuterScope} reading outer-scope values, {withFunctions} with functions");
        Assert.Empty(problems);
        Assert.True(withSubgraphs >= 10, $"only {withSubgraphs} models with subgraphs");
        Assert.True(readingOuterScope >= 3, $"only {readingOuterScope} models whose subgraphs read outer values");
    }

    [SharedFact]
    public void TheGenaiExportIsValidButNotTopologicallySorted()
    {
        var model = OnnxModel.Load(SharedData.TinyGenaiModelDir);
        Assert.Equal(Array.Empty<string>(), GraphValidator.Check(model.Proto));
        Assert.Contains(model.Graph.Node, n => n.Domain == "com.microsoft"); // contrib ops, with their opset imported

        // The model builder lists one Gather after its four readers: the ONNX spec's order rule catches exactly that.
        var strict = GraphValidator.Check(model.Proto, ValidationOptions.Strict);
        foreach (var p in strict) output.WriteLine(p);
        Assert.Equal(5, strict.Count);
        Assert.All(strict.Take(4), p => Assert.EndsWith("before node '/model/attn_mask_reformat/input_ids_subgraph/Gather_2' produces it", p));
        Assert.Equal("main_graph: nodes are not in topological order (TopologicalOrder.SortInPlace fixes it)", strict[4]);
        TopologicalOrder.SortInPlace(model.Graph);
        Assert.Equal(Array.Empty<string>(), GraphValidator.Check(model.Proto, ValidationOptions.Strict));
    }

    /// <summary>A: X -> Relu -> R; B: R,W -> MatMul -> Y. Valid; each test breaks it one way.</summary>
    private static ModelProto Valid()
    {
        var model = MatMulAdd();
        return model;
    }

    private static string Only(ModelProto model)
    {
        var problems = GraphValidator.Check(model);
        Assert.Single(problems);
        Assert.DoesNotContain('\n', problems[0]);
        var e = Assert.Throws<GraphValidationException>(() => GraphValidator.ThrowIfInvalid(model, "m.onnx"));
        Assert.StartsWith("m.onnx: ", e.Message);
        return problems[0];
    }

    [Fact]
    public void TheUnbrokenModelIsValid() => Assert.Equal(Array.Empty<string>(), GraphValidator.Check(Valid()));

    [Fact]
    public void AnInputNothingProducesIsCaught()
    {
        var m = Valid();
        m.Graph.Node[1].Input[1] = "nope";
        Assert.Equal("matmul_add: node 'add' reads 'nope', which nothing produces (not a graph input, initializer, node output)", Only(m));
    }

    [Fact]
    public void ATwoNodeCycleIsCaught()
    {
        var m = Valid();
        m.Graph.Node[0].Input[0] = "Y"; // matmul reads add's output, add reads matmul's
        m.Graph.Input.Clear();
        Assert.Equal("matmul_add: cycle: matmul -> add -> matmul", Only(m));
        var strict = GraphValidator.Check(m, ValidationOptions.Strict);
        Assert.Equal(["matmul_add: node 'matmul' reads 'Y' before node 'add' produces it", "matmul_add: cycle: matmul -> add -> matmul"], strict);
    }

    [Fact]
    public void ASelfLoopIsCaught()
    {
        var m = Valid();
        m.Graph.Node[1].Input[1] = "Y";
        Assert.Equal("matmul_add: cycle: add -> add", Only(m));
    }

    [Fact]
    public void AValueProducedTwiceIsCaught()
    {
        var m = Valid();
        m.Graph.Node.Add(Node("Relu", ["X"], ["XW"], "relu"));
        Assert.Equal("matmul_add: value 'XW' is produced twice, by 'matmul' and by 'relu'", Only(m));
    }

    [Fact]
    public void ANodeOverwritingAGraphInputIsCaught()
    {
        var m = Valid();
        m.Graph.Node.Insert(0, Node("Relu", ["W"], ["X"], "relu"));
        Assert.Equal("matmul_add: node 'relu' writes 'X', which is already a graph input or initializer", Only(m));
    }

    [Fact]
    public void AMissingOpsetImportIsCaught()
    {
        var m = Valid();
        m.Graph.Node[1].Domain = "com.microsoft";
        Assert.Equal("matmul_add: node 'add' (Add) is in domain 'com.microsoft', which the model does not import (add an opset_import for it)", Only(m));
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        Assert.Equal(Array.Empty<string>(), GraphValidator.Check(m));
    }

    [Fact]
    public void UnsortedNodesAreCaughtAndSortingFixesThem()
    {
        var m = Valid();
        var reversed = m.Graph.Node.Reverse().ToList();
        m.Graph.Node.Clear();
        m.Graph.Node.Add(reversed);
        Assert.Equal(Array.Empty<string>(), GraphValidator.Check(m)); // ONNX Runtime sorts for itself
        var problems = GraphValidator.Check(m, ValidationOptions.Strict);
        Assert.Equal(["matmul_add: node 'add' reads 'XW' before node 'matmul' produces it",
                      "matmul_add: nodes are not in topological order (TopologicalOrder.SortInPlace fixes it)"], problems);
        TopologicalOrder.SortInPlace(m.Graph);
        Assert.Equal(["matmul", "add"], m.Graph.Node.Select(n => n.Name));
        Assert.Equal(Array.Empty<string>(), GraphValidator.Check(m, ValidationOptions.Strict));
    }

    [Fact]
    public void AnUnproducedGraphOutputIsCaught()
    {
        var m = Valid();
        m.Graph.Output.Add(FloatValue("Z", 1));
        Assert.Equal("matmul_add: graph output 'Z' is not produced by any node, input or initializer", Only(m));
    }

    [Fact]
    public void AnOpWithoutTypeIsCaught()
    {
        var m = Valid();
        m.Graph.Node[1].OpType = "";
        Assert.Equal("matmul_add: node 'add' has no op_type", Only(m));
    }

    [Fact]
    public void SubgraphsSeeOuterValuesDefinedBeforeTheirNodeOnly()
    {
        var m = IfModel(branchReads: "XW");
        Assert.Equal(Array.Empty<string>(), GraphValidator.Check(m));

        var undefined = IfModel(branchReads: "ghost");
        Assert.Equal("matmul_add/if.then_branch: node 'then_relu' reads 'ghost', which nothing produces (not a graph input, initializer, node output or outer-scope value)", Only(undefined));

        // Y is produced by 'add', which comes after the If: not visible yet under the spec's order rule.
        var later = IfModel(branchReads: "Y");
        Assert.Equal(Array.Empty<string>(), GraphValidator.Check(later));
        Assert.Contains(GraphValidator.Check(later, ValidationOptions.Strict), p => p.StartsWith("matmul_add/if.then_branch: node 'then_relu' reads 'Y', which nothing produces"));
    }

    /// <summary>The MatMulAdd model plus an If (after the MatMul) whose then-branch reads <paramref name="branchReads"/>.</summary>
    internal static ModelProto IfModel(string branchReads)
    {
        var m = Valid();
        var thenBranch = new GraphProto { Name = "then" };
        thenBranch.Node.Add(Node("Relu", [branchReads], ["then_out"], "then_relu"));
        thenBranch.Output.Add(FloatValue("then_out"));
        var elseBranch = new GraphProto { Name = "else" };
        elseBranch.Node.Add(Node("Neg", ["X"], ["else_out"], "else_neg"));
        elseBranch.Output.Add(FloatValue("else_out"));
        m.Graph.Input.Add(new ValueInfoProto { Name = "cond", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 9 } } });
        var ifNode = Node("If", ["cond"], ["if_out"], "if");
        ifNode.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = thenBranch });
        ifNode.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = elseBranch });
        m.Graph.Node.Insert(1, ifNode);
        m.Graph.Output.Add(FloatValue("if_out"));
        return m;
    }
}
