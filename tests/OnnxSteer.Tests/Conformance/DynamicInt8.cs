using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// onnxruntime's dynamic int8 quantisation as transformers.js runs it for its q8 files (quantize_dynamic with
/// MatMulConstBOnly; onnxruntime/python/tools/quantization: onnx_quantizer.py, operators/matmul.py): every MatMul with a
/// constant 2-D float weight becomes
/// <c>x → DynamicQuantizeLinear '{x}_QuantizeLinear' → ({x}_quantized, {x}_scale, {x}_zero_point)</c> (one per
/// distinct x, shared by every MatMul reading it), <c>MatMulInteger '{node}_quant'(x_q, W_quantized, x_zp, W_zero_point)
/// → Cast '{out}_cast'(float) → Mul '{node}_output_scale_mul'(·, Mul '{node}_scales_mul'(x_scale, W_scale))</c> writing the
/// MatMul's own output name. Weights: symmetric per-tensor int8 (scale = max|W|/127, zero point 0), the QInt8 default.
/// </summary>
internal static class DynamicInt8
{
    public static ModelProto Quantize(OnnxModel model)
    {
        var proto = model.Proto.Clone();
        var graph = proto.Graph;
        var inits = graph.Initializer.ToDictionary(t => t.Name);
        var readers = graph.Node.SelectMany(n => n.Input).GroupBy(i => i).ToDictionary(g => g.Key, g => g.Count());
        var quantized = new Dictionary<string, (string Q, string Scale, string Zero)>();
        var nodes = new List<NodeProto>();
        foreach (var node in graph.Node)
        {
            if (node.OpType != "MatMul" || !inits.TryGetValue(node.Input[1], out var w) || w.Dims.Count != 2
                || w.DataType != (int)TensorProto.Types.DataType.Float)
            {
                nodes.Add(node);
                continue;
            }
            var values = ElementEncoding.Decode(model.ReadBytes(w), w.DataType);
            var scale = values.Max(Math.Abs) / 127f;
            var q = values.Select(v => (byte)(sbyte)Math.Clamp(MathF.Round(v / scale, MidpointRounding.ToEven), -127, 127)).ToArray();
            var wq = new TensorProto { Name = w.Name + "_quantized", DataType = (int)TensorProto.Types.DataType.Int8, RawData = ByteString.CopyFrom(q) };
            wq.Dims.Add(w.Dims);
            graph.Initializer.Add(wq);
            graph.Initializer.Add(new TensorProto { Name = w.Name + "_scale", DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(BitConverter.GetBytes(scale)) });
            graph.Initializer.Add(new TensorProto { Name = w.Name + "_zero_point", DataType = (int)TensorProto.Types.DataType.Int8, RawData = ByteString.CopyFrom(0) });
            if (readers[w.Name] == 1) graph.Initializer.Remove(w);

            var x = node.Input[0];
            if (!quantized.TryGetValue(x, out var xq))
            {
                xq = quantized[x] = (x + "_quantized", x + "_scale", x + "_zero_point");
                nodes.Add(Make("DynamicQuantizeLinear", x + "_QuantizeLinear", [x], [xq.Q, xq.Scale, xq.Zero]));
            }
            var integer = node.Output[0] + "_output_quantized";
            nodes.Add(Make("MatMulInteger", node.Name + "_quant", [xq.Q, wq.Name, xq.Zero, w.Name + "_zero_point"], [integer]));
            var cast = Make("Cast", integer + "_cast", [integer], [integer + "_cast_output"]);
            cast.Attribute.Add(ExportEdits.Int("to", (int)TensorProto.Types.DataType.Float));
            nodes.Add(cast);
            nodes.Add(Make("Mul", node.Name + "_scales_mul", [xq.Scale, w.Name + "_scale"], [node.Name + "_scales_mul:0"]));
            nodes.Add(Make("Mul", node.Name + "_output_scale_mul", [cast.Output[0], node.Name + "_scales_mul:0"], [node.Output[0]]));
        }
        graph.Node.Clear();
        graph.Node.Add(nodes);
        // Embed what still lives in the source's data file, so the quantised file stands alone.
        ExportEdits.EmbedExternalData(graph, model);
        return proto;
    }

    private static NodeProto Make(string op, string name, string[] inputs, string[] outputs) => Patching.TinyDecoder.Node(name, op, inputs, outputs);
}
