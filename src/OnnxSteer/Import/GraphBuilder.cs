using System.Globalization;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace OnnxSteer.Import;

/// <summary>
/// A small helper for writing ONNX graphs by hand: nodes whose outputs are named after the node (as the genai builder
/// and torch.onnx do), shared named constants, and typed graph inputs/outputs with symbolic dimensions.
/// </summary>
internal sealed class GraphBuilder(string outputSuffix = "/output_0")
{
    private readonly HashSet<string> _constants = new(StringComparer.Ordinal);

    /// <summary>The graph being built.</summary>
    public GraphProto Graph { get; } = new() { Name = "main_graph" };

    /// <summary>Adds a node with <paramref name="outputs"/> outputs named <c>{name}{suffix}</c>, <c>{name}/output_1</c>, ...</summary>
    public string[] Node(string opType, string name, IEnumerable<string> inputs, int outputs = 1, string domain = "",
        params AttributeProto[] attributes)
    {
        var names = Enumerable.Range(0, outputs).Select(i => OutputName(name, i)).ToArray();
        NodeWithOutputs(opType, name, inputs, names, domain, attributes);
        return names;
    }

    /// <summary>Adds a single-output node and returns its output name.</summary>
    public string Op(string opType, string name, IEnumerable<string> inputs, params AttributeProto[] attributes) =>
        Node(opType, name, inputs, 1, "", attributes)[0];

    /// <summary>Adds a node whose outputs are named by the caller (graph outputs, empty optional slots).</summary>
    public void NodeWithOutputs(string opType, string name, IEnumerable<string> inputs, IEnumerable<string> outputs,
        string domain = "", params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name, Domain = domain };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
    }

    /// <summary>The name of output <paramref name="index"/> of node <paramref name="name"/>.</summary>
    public string OutputName(string name, int index) => $"{name}{outputSuffix[..^1]}{index}";

    /// <summary>A 1-D int64 constant (shared by value), named as the genai builder names its constants.</summary>
    public string Int64s(params long[] values) => ConstantTensor("INT64", "1D", values.Select(v => v.ToString(CultureInfo.InvariantCulture)),
        () => Tensor(TensorProto.Types.DataType.Int64, [values.Length], MemoryMarshal.AsBytes(values.AsSpan()).ToArray()));

    /// <summary>A scalar int64 constant.</summary>
    public string Int64(long value) => ConstantTensor("INT64", "0D", [value.ToString(CultureInfo.InvariantCulture)],
        () => Tensor(TensorProto.Types.DataType.Int64, [], BitConverter.GetBytes(value)));

    /// <summary>A scalar float constant in fp32 or fp16.</summary>
    public string Float(float value, bool fp16) => fp16
        ? ConstantTensor("FLOAT16", "0D", [value.ToString("R", CultureInfo.InvariantCulture)],
            () => Tensor(TensorProto.Types.DataType.Float16, [], BitConverter.GetBytes((Half)value)))
        : ConstantTensor("FLOAT", "0D", [value.ToString("R", CultureInfo.InvariantCulture)],
            () => Tensor(TensorProto.Types.DataType.Float, [], BitConverter.GetBytes(value)));

    private string ConstantTensor(string type, string rank, IEnumerable<string> values, Func<TensorProto> make)
    {
        var key = $"TensorProto.{type}/{rank}/{string.Join(", ", values)}";
        var output = $"/model/constants/{key}";
        if (_constants.Add(key))
            NodeWithOutputs("Constant", $"/model/constant_nodes/{key}", [], [output], "", Attr("value", make()));
        return output;
    }

    /// <summary>An in-memory tensor proto.</summary>
    public static TensorProto Tensor(TensorProto.Types.DataType type, long[] dims, byte[] raw)
    {
        var tensor = new TensorProto { DataType = (int)type, RawData = ByteString.CopyFrom(raw) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }

    /// <summary>Adds a graph input; each dimension is a symbolic name (string) or a fixed size (int/long).</summary>
    public void Input(string name, TensorProto.Types.DataType type, params object[] dims) => Graph.Input.Add(ValueInfo(name, type, dims));

    /// <summary>Adds a graph output; each dimension is a symbolic name (string) or a fixed size (int/long).</summary>
    public void Output(string name, TensorProto.Types.DataType type, params object[] dims) => Graph.Output.Add(ValueInfo(name, type, dims));

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s }
                                        : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d, CultureInfo.InvariantCulture) });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    /// <summary>Integer attribute.</summary>
    public static AttributeProto Attr(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };
    /// <summary>Float attribute.</summary>
    public static AttributeProto Attr(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };
    /// <summary>Integer-list attribute.</summary>
    public static AttributeProto Attr(string name, long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }
    /// <summary>Tensor attribute.</summary>
    public static AttributeProto Attr(string name, TensorProto value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = value };
}
