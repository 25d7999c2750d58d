using Google.Protobuf;
using Onnx;

namespace OnnxSteer.Tests.Runtime;

/// <summary>Builds small ONNX models in memory for runtime tests (nothing is committed).</summary>
internal static class TinyModels
{
    /// <summary>A dimension: a number, or a symbolic name.</summary>
    internal static TensorShapeProto.Types.Dimension Dim(object d) =>
        d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) };

    internal static ValueInfoProto Value(string name, TensorProto.Types.DataType type, params object[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims.Select(Dim));
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    internal static NodeProto Node(string op, string[] inputs, string[] outputs, string domain = "")
    {
        var n = new NodeProto { OpType = op, Domain = domain, Name = op + "_" + outputs[0] };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }

    internal static byte[] Model(IEnumerable<NodeProto> nodes, IEnumerable<ValueInfoProto> inputs, IEnumerable<ValueInfoProto> outputs, long opset = 17)
    {
        var graph = new GraphProto { Name = "tiny" };
        graph.Node.AddRange(nodes);
        graph.Input.AddRange(inputs);
        graph.Output.AddRange(outputs);
        var model = new ModelProto { IrVersion = 8, Graph = graph, ProducerName = "onnxsteer-tests" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return model.ToByteArray();
    }

    /// <summary>Y = MatMul(A, B) + C with A [batch, 3], B [3, 4], C [4]; batch symbolic.</summary>
    internal static byte[] MatMulAdd() => Model(
        [Node("MatMul", ["A", "B"], ["AB"]), Node("Add", ["AB", "C"], ["Y"])],
        [Value("A", TensorProto.Types.DataType.Float, "batch", 3), Value("B", TensorProto.Types.DataType.Float, 3, 4), Value("C", TensorProto.Types.DataType.Float, 4)],
        [Value("Y", TensorProto.Types.DataType.Float, "batch", 4)]);

    /// <summary>Y = X + X over a flat float vector of symbolic length n.</summary>
    internal static byte[] Double() => Model(
        [Node("Add", ["X", "X"], ["Y"])],
        [Value("X", TensorProto.Types.DataType.Float, "n")],
        [Value("Y", TensorProto.Types.DataType.Float, "n")]);

    /// <summary>Y = Identity(X) for one element type, shape [n].</summary>
    internal static byte[] Identity(TensorProto.Types.DataType type) => Model(
        [Node("Identity", ["X"], ["Y"])],
        [Value("X", type, "n")],
        [Value("Y", type, "n")]);

    /// <summary>Writes bytes to a fresh temp file; the caller deletes it.</summary>
    internal static string WriteTemp(byte[] model)
    {
        var path = Path.Combine(Path.GetTempPath(), $"onnxsteer-rt-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, model);
        return path;
    }
}
