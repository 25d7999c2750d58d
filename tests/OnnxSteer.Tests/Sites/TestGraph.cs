using Google.Protobuf;
using Onnx;

namespace OnnxSteer.Tests.Sites;

/// <summary>
/// Builds small ONNX graphs in tests: inputs, zero-filled weights and nodes, with names left empty when asked.
/// Weights carry real shapes (that is what site widths come from); their values do not matter here.
/// </summary>
internal sealed class TestGraph
{
    public const int Float = (int)TensorProto.Types.DataType.Float;
    public const int Float16 = (int)TensorProto.Types.DataType.Float16;
    public const int UInt8 = (int)TensorProto.Types.DataType.Uint8;
    public const int Int4 = (int)TensorProto.Types.DataType.Int4;
    public const int Int64 = (int)TensorProto.Types.DataType.Int64;

    private int _counter;

    public GraphProto Graph { get; } = new() { Name = "test" };

    /// <summary>Adds a graph input with a symbolic batch/sequence and the given trailing dims.</summary>
    public string Input(string name, int elementType, params long[] trailing)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "sequence" });
        foreach (var d in trailing) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        Graph.Input.Add(new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType, Shape = shape } },
        });
        return name;
    }

    /// <summary>Adds a zero-filled initializer of the given shape and type.</summary>
    public string Weight(string name, int elementType, params long[] dims)
    {
        var count = dims.Aggregate(1L, (a, b) => a * b);
        var bytes = elementType switch
        {
            Float => 4 * count,
            Float16 => 2 * count,
            Int64 => 8 * count,
            Int4 => (count + 1) / 2,
            _ => count,
        };
        var tensor = new TensorProto { Name = name, DataType = elementType, RawData = ByteString.CopyFrom(new byte[bytes]) };
        tensor.Dims.Add(dims);
        Graph.Initializer.Add(tensor);
        return name;
    }

    /// <summary>Adds a node; outputs get generated names unless given. Returns the first output.</summary>
    public string Node(string opType, string? name, string[] inputs, string domain = "", int outputs = 1, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name ?? "", Domain = domain };
        node.Input.Add(inputs);
        var stem = string.IsNullOrEmpty(name) ? $"v{_counter++}" : name;
        for (var i = 0; i < outputs; i++) node.Output.Add($"{stem}/output_{i}");
        node.Attribute.Add(attributes);
        Graph.Node.Add(node);
        return node.Output[0];
    }

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.Add(values);
        return a;
    }

    /// <summary>Declares an output of the graph.</summary>
    public void Output(string value, int elementType)
    {
        Graph.Output.Add(new ValueInfoProto
        {
            Name = value,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType } },
        });
    }

    /// <summary>Wraps the graph in a model with the default and com.microsoft opsets.</summary>
    public ModelProto ToModel()
    {
        var model = new ModelProto { IrVersion = 10, Graph = Graph, ProducerName = "OnnxSteer.Tests" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        return model;
    }
}
