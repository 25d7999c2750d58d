using Google.Protobuf;
using Onnx;
using OnnxSteer.Graph;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Patching;

/// <summary>
/// The graph pieces of <c>patch --switchable</c>. Each site's steering vector, the same constant a plain patch writes
/// (<c>…/steer.scale</c>: 1 + gamma per unit; <c>…/steer.bias</c>: the offset), becomes an overridable initializer: an
/// initializer that is also a graph input, so ONNX Runtime uses it unless a run feeds a tensor of the same name, type
/// and shape. One float32 graph input of shape [1], <see cref="StrengthName"/> (default 1), scales every site's steering:
/// <list type="bullet">
/// <item>scaling: the Mul reads <c>strength == 1 ? v : 1 + strength·(v − 1)</c>;</item>
/// <item>adding: the Add reads <c>strength·c</c>.</item>
/// </list>
/// The Where makes the default exact by construction (the Mul reads v itself, whatever the runtime does with casts), so at
/// strength 1 the model computes exactly what a plain patch computes, feeding another selection's vectors gives exactly
/// that re-patch, and strength 0 multiplies by exactly 1 (or adds zero).
/// The strength has shape [1], not [], because ONNX Runtime's adapter format (.onnx_adapter, the way onnxruntime-genai
/// overrides initializers per generator) refuses parameters without dimensions (Interop's <c>StrengthAdapter</c> writes them).
/// </summary>
internal static class SwitchableSteering
{
    /// <summary>The graph input that scales every switchable site (float32, shape [1], default 1).</summary>
    public const string StrengthName = "onnxsteer.strength";

    /// <summary>The shape of <see cref="StrengthName"/> in models patched by this version (older ones declare []).</summary>
    public static readonly long[] StrengthShape = [1];

    private const int Float = (int)TensorProto.Types.DataType.Float;

    /// <summary>
    /// Checks that <paramref name="graph"/> declares the strength as an overridable [1] tensor, as this version patches
    /// it, so an .onnx_adapter (Interop's <c>StrengthAdapter</c>) can set it (models patched before declare []).
    /// </summary>
    /// <exception cref="OnnxSteerException">Not switchable, or an older [] strength (exit 3, naming <paramref name="path"/>).</exception>
    public static void RequireAdapterStrength(GraphProto graph, string path)
    {
        var input = graph.Input.FirstOrDefault(i => i.Name == StrengthName);
        if (input is null || graph.Initializer.All(t => t.Name != StrengthName))
            throw new InvalidModelException($"{path}: not a switchable model (no '{StrengthName}' input); patch it with {Param("switchable")}");
        var dims = input.Type?.TensorType?.Shape?.Dim.Select(d => d.DimValue).ToArray() ?? [];
        if (!dims.SequenceEqual(StrengthShape))
            throw new InvalidModelException($"{path}: its '{StrengthName}' has shape [{string.Join(",", dims)}], but adapters " +
                "need [1]; re-patch the model with this version of onnxsteer");
    }

    /// <summary>
    /// The vector a host feeds for one site to get <paramref name="steering"/>: the factor per unit (scaling) or the
    /// offset (adding), full width; encode it in the site's element type (<see cref="ElementEncoding.Encode"/>).
    /// </summary>
    public static float[] HostVector(SiteSteering steering) => (float[])steering.Vector.Clone();

    /// <summary>
    /// Lists <paramref name="vectorName"/> as a graph input, adds the strength input (once per graph) and the constants,
    /// and builds the nodes computing the factor the steering node reads, in order; the caller places them (they read
    /// only inputs and constants). Returns what unpatching needs, and the nodes.
    /// </summary>
    internal static (SwitchEdit Edit, IReadOnlyList<NodeProto> Nodes) Insert(GraphEditor editor, SiteSteering steering,
        SteeringOperation op, string vectorName, string prefix)
    {
        var site = steering.Site;
        var type = site.ElementType;
        editor.AddGraphInput(Input(vectorName, type, [site.Width]));
        var strengthCreated = editor.Index.Initializer(StrengthName) is null;
        if (strengthCreated)
        {
            var strengthInit = Scalar(StrengthName, Float, 1f);
            strengthInit.Dims.Add(StrengthShape);
            editor.SetInitializer(strengthInit);
            editor.AddGraphInput(Input(StrengthName, Float, StrengthShape));
        }

        var nodes = new List<NodeProto>();
        var constants = new List<string>();
        string Constant(string suffix, int elementType, float value)
        {
            var name = editor.AddInitializer(Scalar(prefix + suffix, elementType, value));
            constants.Add(name);
            return name;
        }
        string Node(string opType, string[] inputs, AttributeProto? attribute = null)
        {
            var node = editor.NewNode(opType, $"{prefix}/strength/{opType}", inputs);
            if (attribute is not null) node.Attribute.Add(attribute);
            nodes.Add(node);
            return node.Output[0];
        }

        var strength = type == Float ? StrengthName
            : Node("Cast", [StrengthName], new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = type });
        string factor;
        if (op == SteeringOperation.Scale)
        {
            var isOne = Node("Equal", [StrengthName, Constant(".strength_one", Float, 1f)]);
            var one = Constant(".one", type, 1f);
            var scaled = Node("Add", [Node("Mul", [Node("Sub", [vectorName, one]), strength]), one]);
            factor = Node("Where", [isOne, vectorName, scaled]);
        }
        else
        {
            factor = Node("Mul", [vectorName, strength]);
        }

        var edit = new SwitchEdit
        {
            Factor = factor, Nodes = nodes.Select(n => n.Name).ToList(), Initializers = constants,
            Strength = StrengthName, StrengthCreated = strengthCreated,
        };
        return (edit, nodes);
    }

    private static TensorProto Scalar(string name, int elementType, float value) => new()
    {
        Name = name,
        DataType = elementType,
        RawData = ByteString.CopyFrom(ElementEncoding.Encode([value], elementType)),
    };

    private static ValueInfoProto Input(string name, int elementType, long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType, Shape = shape } },
        };
    }
}
