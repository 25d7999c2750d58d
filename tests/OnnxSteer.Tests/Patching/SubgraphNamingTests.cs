using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using Xunit;

namespace OnnxSteer.Tests.Patching;

/// <summary>
/// Names the patcher picks are new in every graph of the model, subgraphs included: ONNX values share one namespace
/// with the subgraphs that see them, so a steering node named like a value inside an If branch would shadow it.
/// </summary>
public sealed class SubgraphNamingTests
{
    private static readonly SteeringProvenance Prov = new("austeer", 3, 5.0, "ab12");
    private const string AttnPrefix = "/model/layers.0/attn/o_proj/steer";
    private const string MlpPrefix = "/model/layers.0/mlp/down_proj/steer";
    private const int Bool = (int)TensorProto.Types.DataType.Bool;

    /// <summary>
    /// The tiny decoder plus an If (graph output "branch") whose then-branch already uses the names a patch of layer 0
    /// would pick: node <c>…/o_proj/steer/Mul</c> writing <c>…/o_proj/steer/Mul/output_0</c> = x · <c>…/down_proj/steer.scale</c>
    /// (2 everywhere, a branch initializer). The else-branch gives −x.
    /// </summary>
    internal static ModelProto WithSteerNamesInABranch(TinyDecoder d)
    {
        var thenBranch = new GraphProto { Name = "then" };
        thenBranch.Initializer.Add(d.Tensor($"{MlpPrefix}.scale", [TinyDecoder.Hidden], Enumerable.Repeat(2f, TinyDecoder.Hidden).ToArray()));
        thenBranch.Node.Add(TinyDecoder.Node($"{AttnPrefix}/Mul", "Mul", ["x", $"{MlpPrefix}.scale"], [$"{AttnPrefix}/Mul/output_0"]));
        thenBranch.Output.Add(Value($"{AttnPrefix}/Mul/output_0", d.ElementType));
        return WithIf(d, thenBranch);
    }

    /// <summary>The tiny decoder plus <c>branch = If(cond, <paramref name="thenBranch"/>, −x)</c>, a graph output.</summary>
    internal static ModelProto WithIf(TinyDecoder d, GraphProto thenBranch)
    {
        var m = d.Proto.Clone();
        var elseBranch = new GraphProto { Name = "else" };
        elseBranch.Node.Add(TinyDecoder.Node("/branch/else/Neg", "Neg", ["x"], ["/branch/else/Neg/output_0"]));
        elseBranch.Output.Add(Value("/branch/else/Neg/output_0", d.ElementType));
        var ifNode = TinyDecoder.Node("/branch/If", "If", ["cond"], ["branch"]);
        ifNode.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = thenBranch });
        ifNode.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = elseBranch });
        m.Graph.Input.Add(Value("cond", Bool, 1));
        m.Graph.Node.Add(ifNode);
        m.Graph.Output.Add(Value("branch", d.ElementType));
        return m;
    }

    /// <summary>Every name used inside the subgraphs of <paramref name="model"/> (nodes, values, initializers).</summary>
    internal static HashSet<string> BranchNames(ModelProto model)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var scope in Subgraphs.Walk(model.Graph).Where(s => s.Depth > 0))
        {
            foreach (var n in scope.Graph.Node) names.UnionWith([n.Name, .. n.Input, .. n.Output]);
            names.UnionWith(scope.Graph.Initializer.Select(t => t.Name));
            names.UnionWith(scope.Graph.Output.Select(o => o.Name));
        }
        return names;
    }

    /// <summary>Names of the main graph of <paramref name="after"/> that <paramref name="before"/> does not use.</summary>
    internal static HashSet<string> AddedNames(ModelProto before, ModelProto after)
    {
        static IEnumerable<string> Main(GraphProto g) => g.Node.SelectMany(n => new[] { n.Name }.Concat(n.Input).Concat(n.Output))
            .Concat(g.Initializer.Select(t => t.Name)).Concat(g.Input.Select(i => i.Name)).Concat(g.Output.Select(o => o.Name));
        var added = Main(after.Graph).ToHashSet(StringComparer.Ordinal);
        added.ExceptWith(Main(before.Graph));
        return added;
    }

    private static SteeringPlan Plan(TinyDecoder d, bool dynamic)
    {
        var plan = SteeringPlan.Scale(d.Sites(), [(SiteKind.Attn, 0, 2, 0.5), (SiteKind.Mlp, 0, 3, 1.0), (SiteKind.MlpOut, 0, 1, -0.5)], Prov);
        if (!dynamic) return plan;
        var rng = new Random(5);
        return plan.WithSites(plan.Sites.Select(s => s with
        {
            Gate = new LayerProbe
            {
                Site = s.Site.Id, Layer = 0, Bias = 0.25, HeldOutAccuracy = 0.9,
                Weights = Enumerable.Range(0, s.Site.Width).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray(),
            },
        }).ToList());
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Steering_names_avoid_the_names_of_an_If_branch_and_the_model_computes_as_without_it(bool switchable, bool dynamic)
    {
        var d = new TinyDecoder();
        var original = WithSteerNamesInABranch(d);
        var options = new PatchOptions(Switchable: switchable, Dynamic: dynamic);
        var patched = GraphPatcher.Apply(new OnnxModel(original.Clone()), Plan(d, dynamic), options);

        // o_proj's prefix is taken by the branch's node, down_proj's by its initializer; mlp-out shares down_proj's.
        Assert.Equal([$"{AttnPrefix}_2/Mul", $"{MlpPrefix}_2/Mul", $"{MlpPrefix}_3/Mul"], patched.Step.Edits.Select(e => e.Node));
        Assert.Equal([$"{AttnPrefix}_2.scale", $"{MlpPrefix}_2.scale", $"{MlpPrefix}_3.scale"], patched.Step.Edits.Select(e => e.Initializer));
        var added = AddedNames(original, patched.Model.Proto);
        Assert.True(added.Count >= 6, string.Join(", ", added));
        Assert.Empty(added.Intersect(BranchNames(original)));
        Assert.Equal(BranchNames(original), BranchNames(patched.Model.Proto));   // the branches are untouched
        Assert.Equal(Array.Empty<string>(), GraphValidator.Check(patched.Model.Proto, ValidationOptions.Strict));

        // The same patch of the decoder without the If computes the same logits, and the branch still reads its own values.
        var plain = GraphPatcher.Apply(d.Model(), Plan(d, dynamic), options);
        var x = OrtHarness.Random(3 * TinyDecoder.Hidden, seed: 9);
        using var xValue = OrtHarness.Tensor(x, [1, 3, TinyDecoder.Hidden], d.ElementType);
        using var cond = OrtValue.CreateTensorValueFromMemory(new[] { true }, [1]);
        var withIf = OrtHarness.Run(patched.Model.Proto, null, new Dictionary<string, OrtValue> { ["x"] = xValue, ["cond"] = cond }, ["logits", "branch"], d.ElementType);
        var without = OrtHarness.Run(plain.Model.Proto, null, new Dictionary<string, OrtValue> { ["x"] = xValue }, ["logits"], d.ElementType);
        Assert.Equal(without["logits"], withIf["logits"]);   // bitwise: the same ops on the same values
        Assert.Equal(x.Select(v => 2 * v), withIf["branch"]);
        Assert.NotEqual(OrtHarness.Run(d.Proto, null, new Dictionary<string, OrtValue> { ["x"] = xValue }, ["logits"], d.ElementType)["logits"], withIf["logits"]);

        Assert.Equal(original, GraphUnpatcher.Remove(patched.Model).Proto);
    }

    internal static ValueInfoProto Value(string name, int elementType, params long[] dims)
    {
        var tensor = new TypeProto.Types.Tensor { ElemType = elementType };
        if (dims.Length > 0)
        {
            tensor.Shape = new TensorShapeProto();
            foreach (var dim in dims) tensor.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = dim });
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensor } };
    }
}
