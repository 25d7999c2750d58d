using Google.Protobuf;
using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Sites;
using Xunit;

namespace OnnxSteer.Tests.Patching;

/// <summary>
/// Patch and unpatch a deep model with every site kind on every layer, switchable and stacked: unpatch finds each
/// recorded node, constant and input by name among hundreds and restores the original protobuf exactly.
/// </summary>
public sealed class ManyLayerUnpatchTests
{
    private const int Layers = 40;
    private const int Width = 4;
    private const int F32 = (int)TensorProto.Types.DataType.Float;
    private static readonly SteeringProvenance Prov = new("austeer", 1, 2.0, "cd34");

    /// <summary><c>x_i → o_proj → a_i → down_proj → x_{i+1}</c> for every layer, named like onnxruntime-genai exports.</summary>
    private static ModelProto Chain()
    {
        var g = new GraphProto { Name = "chain" };
        g.Input.Add(Value("x"));
        var x = "x";
        for (var i = 0; i < Layers; i++)
        {
            var a = $"/model/layers.{i}/attn/o_proj/MatMul/output_0";
            var next = $"/model/layers.{i}/mlp/down_proj/MatMul/output_0";
            g.Initializer.Add(Weight($"model.layers.{i}.attn.o_proj.weight", i));
            g.Initializer.Add(Weight($"model.layers.{i}.mlp.down_proj.weight", i + 100));
            g.Node.Add(TinyDecoder.Node($"/model/layers.{i}/attn/o_proj/MatMul", "MatMul", [x, $"model.layers.{i}.attn.o_proj.weight"], [a]));
            g.Node.Add(TinyDecoder.Node($"/model/layers.{i}/mlp/down_proj/MatMul", "MatMul", [a, $"model.layers.{i}.mlp.down_proj.weight"], [next]));
            x = next;
        }
        g.Output.Add(Value(x));
        var m = new ModelProto { IrVersion = 8, Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return m;
    }

    private static IReadOnlyList<SteeringSite> Sites(GraphProto g) =>
        Enumerable.Range(0, Layers).SelectMany(i => new[]
        {
            new SteeringSite(SiteKind.Attn, i, Width, F32, $"/model/layers.{i}/attn/o_proj/MatMul", "MatMul", g.Node[2 * i].Input[0]),
            new SteeringSite(SiteKind.Mlp, i, Width, F32, $"/model/layers.{i}/mlp/down_proj/MatMul", "MatMul", g.Node[2 * i + 1].Input[0]),
            new SteeringSite(SiteKind.MlpOut, i, Width, F32, $"/model/layers.{i}/mlp/down_proj/MatMul", "MatMul", g.Node[2 * i + 1].Output[0]),
        }).ToList();

    private static SteeringPlan Plan(IReadOnlyList<SteeringSite> sites, double gamma) =>
        SteeringPlan.Scale(sites, sites.Select(s => (s.Kind, s.Layer, s.Layer % Width, gamma)), Prov);

    [Fact]
    public void Unpatch_of_a_stacked_switchable_patch_on_every_site_of_40_layers_restores_the_original()
    {
        var original = Chain();
        var once = GraphPatcher.Apply(new OnnxModel(original.Clone()), Plan(Sites(original.Graph), 0.5), new PatchOptions(Switchable: true)).Model;
        // The second step steers the edges as they are now (the projections read and write the first step's values).
        var (before, after) = (new GraphIndex(original.Graph), new GraphIndex(once.Graph));
        var steered = Sites(original.Graph).Select(s => SteeringPlanner.OnSteeredGraph(s, before, after)).ToList();
        var twice = GraphPatcher.Apply(once, Plan(steered, -0.25), PatchOptions.Default).Model;

        var edits = SteeringMetadata.Read(twice.Proto).SelectMany(s => s.Edits).ToList();
        Assert.Equal(2 * 3 * Layers, edits.Count);
        Assert.Equal(edits.Count, edits.Select(e => e.Node).Distinct().Count());
        Assert.Contains(edits, e => e.Node == "/model/layers.39/mlp/down_proj/steer_4/Mul");   // mlp-out's second step
        Assert.Equal(original.Graph.Node.Count + Layers * 3 * (1 + 5) + Layers * 3, twice.Graph.Node.Count);
        Assert.Equal(Array.Empty<string>(), GraphValidator.Check(twice.Proto, ValidationOptions.Strict));

        Assert.Equal(original, GraphUnpatcher.Remove(twice).Proto);
    }

    private static TensorProto Weight(string name, int seed)
    {
        var rng = new Random(seed);
        var values = Enumerable.Range(0, Width * Width).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var t = new TensorProto { Name = name, DataType = F32, RawData = ByteString.CopyFrom(ElementEncoding.Encode(values, F32)) };
        t.Dims.Add([Width, Width]);
        return t;
    }

    private static ValueInfoProto Value(string name) => new()
    {
        Name = name,
        Type = new TypeProto
        {
            TensorType = new TypeProto.Types.Tensor
            {
                ElemType = F32,
                Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimParam = "tokens" }, new TensorShapeProto.Types.Dimension { DimValue = Width } } },
            },
        },
    };
}
