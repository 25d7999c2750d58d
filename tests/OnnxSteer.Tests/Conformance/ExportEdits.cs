using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;

namespace OnnxSteer.Tests.Conformance;

/// <summary>Small steps the exporter transcriptions share.</summary>
internal static class ExportEdits
{
    /// <summary>Embeds every initializer of <paramref name="graph"/> that still lives in <paramref name="source"/>'s data
    /// file, so the rewritten model stands alone in any folder.</summary>
    public static void EmbedExternalData(GraphProto graph, OnnxModel source)
    {
        foreach (var t in graph.Initializer.Where(t => t.DataLocation == TensorProto.Types.DataLocation.External).ToList())
        {
            var embedded = new TensorProto { Name = t.Name, DataType = t.DataType, RawData = ByteString.CopyFrom(source.ReadBytes(t)) };
            embedded.Dims.Add(t.Dims);
            graph.Initializer[graph.Initializer.IndexOf(t)] = embedded;
        }
    }

    /// <summary>An integer attribute.</summary>
    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>A string attribute.</summary>
    public static AttributeProto Str(string name, string value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(value) };

    /// <summary>A float attribute.</summary>
    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>A node; <paramref name="domain"/> "" is the default domain.</summary>
    public static NodeProto Node(string op, string name, string[] inputs, string[] outputs, string domain = "", params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = name, Domain = domain };
        node.Input.Add(inputs);
        node.Output.Add(outputs);
        node.Attribute.Add(attributes);
        return node;
    }

    /// <summary>A float tensor of <paramref name="elementType"/> (FLOAT, FLOAT16, BFLOAT16) from float values.</summary>
    public static TensorProto Tensor(string name, int elementType, float[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = elementType, RawData = ByteString.CopyFrom(ElementEncoding.Encode(values, elementType)) };
        t.Dims.Add(dims);
        return t;
    }

    /// <summary>The float values of initializer <paramref name="name"/> (embedded).</summary>
    public static float[] Values(GraphProto graph, string name)
    {
        var t = graph.Initializer.Single(i => i.Name == name);
        return ElementEncoding.Decode(t.RawData.Span, t.DataType);
    }

    /// <summary>The node named <paramref name="name"/>.</summary>
    public static NodeProto Named(GraphProto graph, string name) => graph.Node.Single(n => n.Name == name);

    /// <summary>
    /// Puts <paramref name="node"/> (one input, one output) on the edge from <paramref name="value"/> to
    /// <paramref name="reader"/>: the reader's inputs that were <paramref name="value"/> read the node's output instead.
    /// </summary>
    public static void Splice(GraphProto graph, NodeProto reader, string value, NodeProto node)
    {
        for (var i = 0; i < reader.Input.Count; i++)
            if (reader.Input[i] == value) reader.Input[i] = node.Output[0];
        graph.Node.Insert(graph.Node.IndexOf(reader), node);
    }

    /// <summary>
    /// Puts <paramref name="node"/> after the producer of <paramref name="value"/>: the producer writes
    /// <c>{node}/input_0</c>, which the node reads (as its first input) to write <paramref name="value"/> again.
    /// </summary>
    public static void Append(GraphProto graph, string value, NodeProto node)
    {
        var producer = graph.Node.Single(n => n.Output.Contains(value));
        var renamed = node.Name + "/input_0";
        producer.Output[producer.Output.IndexOf(value)] = renamed;
        node.Input.Insert(0, renamed);
        node.Output.Clear();
        node.Output.Add(value);
        graph.Node.Insert(graph.Node.IndexOf(producer) + 1, node);
    }

    /// <summary>A model around <paramref name="graph"/> with <paramref name="source"/>'s opsets, IR version and metadata.</summary>
    public static ModelProto With(ModelProto source, GraphProto graph)
    {
        var model = source.Clone();
        model.Graph = graph;
        return model;
    }
}
