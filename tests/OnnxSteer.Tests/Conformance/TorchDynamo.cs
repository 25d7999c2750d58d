using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// Linear layers as torch.onnx's dynamo exporter writes them (torchlib's aten::linear / aten::t): the parameter is
/// stored as PyTorch keeps it, [out, in], and read through <c>Transpose(perm [1, 0])</c> into <c>MatMul(x, W^T)</c>.
/// With <c>storedAsFloat16</c> the parameter is kept in float16 and a <c>Cast(to float)</c> precedes the Transpose (a
/// mixed-precision export). Applied to every MatMul with a constant 2-D weight of a float model.
/// </summary>
internal static class TorchDynamo
{
    public static ModelProto Linearise(OnnxModel model, bool storedAsFloat16)
    {
        var proto = model.Proto.Clone();
        var graph = proto.Graph;
        var inits = graph.Initializer.ToDictionary(t => t.Name);
        var nodes = new List<NodeProto>();
        var i = 0;
        foreach (var node in graph.Node)
        {
            if (node.OpType == "MatMul" && inits.TryGetValue(node.Input[1], out var w) && w.Dims.Count == 2)
            {
                var (k, n) = ((int)w.Dims[0], (int)w.Dims[1]);
                var values = ElementEncoding.Decode(model.ReadBytes(w), w.DataType);
                var transposed = new float[values.Length];
                for (var r = 0; r < k; r++)
                    for (var c = 0; c < n; c++) transposed[c * k + r] = values[r * n + c];
                var type = storedAsFloat16 ? (int)TensorProto.Types.DataType.Float16 : w.DataType;
                var stored = new TensorProto { Name = w.Name, DataType = type, RawData = ByteString.CopyFrom(ElementEncoding.Encode(transposed, type)) };
                stored.Dims.AddRange([n, k]);
                graph.Initializer[graph.Initializer.IndexOf(w)] = stored;
                var source = w.Name;
                if (storedAsFloat16)
                {
                    var cast = new NodeProto { OpType = "Cast", Name = $"node_Cast_{i}", Input = { source }, Output = { $"_to_copy_{i}" } };
                    cast.Attribute.Add(ExportEdits.Int("to", (int)TensorProto.Types.DataType.Float));
                    nodes.Add(cast);
                    source = cast.Output[0];
                }
                var t = new NodeProto { OpType = "Transpose", Name = $"node_Transpose_{i}", Input = { source }, Output = { $"t_{i}" } };
                t.Attribute.Add(new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1, 0 } });
                nodes.Add(t);
                node.Input[1] = t.Output[0];
                i++;
            }
            nodes.Add(node);
        }
        graph.Node.Clear();
        graph.Node.Add(nodes);
        ExportEdits.EmbedExternalData(graph, model);
        return proto;
    }
}
