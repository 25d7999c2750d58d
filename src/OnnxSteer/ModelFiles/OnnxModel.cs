using Google.Protobuf;
using Onnx;

namespace OnnxSteer.ModelFiles;

/// <summary>
/// An ONNX model read from a file: the protobuf and the folder its external data is relative to.
/// External weights are not read at load time; a tensor's <c>external_data</c> entries say where they are.
/// </summary>
public sealed class OnnxModel
{
    /// <summary>The parsed model.</summary>
    public ModelProto Proto { get; }

    /// <summary>The file it was loaded from, if any.</summary>
    public string? FilePath { get; }

    /// <summary>The folder that external-data locations are relative to.</summary>
    public string BaseDirectory { get; }

    public OnnxModel(ModelProto proto, string? filePath = null, string? baseDirectory = null)
    {
        Proto = proto;
        FilePath = filePath is null ? null : Path.GetFullPath(filePath);
        BaseDirectory = baseDirectory ?? (FilePath is null ? Directory.GetCurrentDirectory() : Path.GetDirectoryName(FilePath)!);
    }

    /// <summary>The main graph.</summary>
    public GraphProto Graph => Proto.Graph;

    /// <summary>Parses a model file without touching its external data.</summary>
    public static OnnxModel Load(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "model.onnx");
        if (!File.Exists(path)) throw new InvalidModelException($"{path}: no such file");
        ModelProto proto;
        try
        {
            using var stream = File.OpenRead(path);
            proto = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidModelException($"{path}: not a valid ONNX model ({e.Message})", e);
        }
        if (proto.Graph is null) throw new InvalidModelException($"{path}: the model has no graph");
        return new OnnxModel(proto, path);
    }

    /// <summary>The opset version imported for <paramref name="domain"/> ("" = default domain), or null.</summary>
    public long? OpsetVersion(string domain = "") =>
        Proto.OpsetImport.FirstOrDefault(o => (o.Domain ?? "") == domain || (domain == "" && o.Domain == "ai.onnx"))?.Version;
}
