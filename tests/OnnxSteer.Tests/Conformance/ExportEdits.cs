using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;

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
}
