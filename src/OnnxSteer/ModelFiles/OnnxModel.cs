using Google.Protobuf;
using Onnx;

namespace OnnxSteer.ModelFiles;

/// <summary>
/// An ONNX model read from a file: the protobuf and the folder its external data is relative to.
/// External weights are not read at load time; a tensor's <c>external_data</c> entries say where they are, and
/// <see cref="TensorData"/> reads them on demand.
/// </summary>
internal sealed class OnnxModel
{
    /// <summary>The parsed model.</summary>
    public ModelProto Proto { get; }

    /// <summary>The file it was loaded from or last saved to, if any.</summary>
    public string? FilePath { get; private set; }

    /// <summary>The folder that external-data locations are relative to.</summary>
    public string BaseDirectory { get; private set; }

    public OnnxModel(ModelProto proto, string? filePath = null, string? baseDirectory = null)
    {
        Proto = proto;
        FilePath = filePath is null ? null : Path.GetFullPath(filePath);
        BaseDirectory = baseDirectory ?? (FilePath is null ? Directory.GetCurrentDirectory() : Path.GetDirectoryName(FilePath)!);
    }

    /// <summary>Initializers left in the file by <see cref="StreamingModelRewriter.LoadLean"/>; null for an ordinary load.</summary>
    internal StreamedInitializers? Streamed { get; init; }

    /// <summary>The main graph.</summary>
    public GraphProto Graph => Proto.Graph;

    /// <summary>How error messages name this model: its file, or "(in-memory model)".</summary>
    public string DisplayName => FilePath ?? "(in-memory model)";

    /// <summary>
    /// Parses a model file (or a folder's model: <see cref="ModelLocator"/>) without reading its external data. Unless
    /// <paramref name="checkExternalData"/> is false, every external reference is checked against the disk first
    /// (location inside the folder, regular file, range inside the file), so an unsafe model fails here.
    /// </summary>
    public static OnnxModel Load(string path, bool checkExternalData = true)
    {
        path = ModelLocator.Resolve(path);
        if (!File.Exists(path)) throw new InvalidModelException($"{path}: no such file");
        ModelProto proto;
        using (var stream = File.OpenRead(path)) proto = Parse(stream, path);
        if (proto.Graph is null) throw new InvalidModelException($"{path}: the model has no graph");
        var model = new OnnxModel(proto, path);
        if (checkExternalData) model.CheckExternalData();
        return model;
    }

    /// <summary>
    /// Parses model bytes; any malformed input becomes an <see cref="InvalidModelException"/> naming <paramref name="path"/>.
    /// Google.Protobuf reports most damage as InvalidProtocolBufferException, but a truncated unknown field or string
    /// inside a nested message can surface as ArgumentOutOfRangeException or IndexOutOfRangeException (found by the
    /// 20k-input fuzz run), so those count as malformed input too.
    /// </summary>
    internal static ModelProto Parse(Stream stream, string path)
    {
        try
        {
            return ModelProto.Parser.ParseFrom(stream);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or ArgumentOutOfRangeException or IndexOutOfRangeException)
        {
            var why = e is InvalidProtocolBufferException ? e.Message : "a field runs past the end of its message";
            throw new InvalidModelException($"{path}: not a valid ONNX model ({why})", e);
        }
    }

    /// <summary>The opset version imported for <paramref name="domain"/> ("" = default domain), or null.</summary>
    public long? OpsetVersion(string domain = "") =>
        Proto.OpsetImport.FirstOrDefault(o => (o.Domain ?? "") == domain || (domain == "" && o.Domain == "ai.onnx"))?.Version;

    /// <summary>Every tensor whose values live in an external file.</summary>
    public IEnumerable<TensorProto> ExternalTensors() =>
        TensorWalker.All(Proto).Select(s => s.Tensor).Where(ExternalDataReference.IsExternal);

    /// <summary>The distinct data-file locations the model names, as written.</summary>
    public IReadOnlyList<string> DataFileLocations() =>
        ExternalTensors().Select(t => ExternalDataReference.Parse(t, DisplayName).Location).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>Checks every external reference (see <see cref="ExternalDataSpan.Locate"/>); throws
    /// <see cref="InvalidModelException"/> on the first bad one. Reads no weights.</summary>
    public void CheckExternalData()
    {
        foreach (var tensor in ExternalTensors()) ExternalDataSpan.Locate(tensor, BaseDirectory, DisplayName);
    }

    /// <summary>The values of <paramref name="tensor"/> (a tensor of this model) as raw little-endian bytes.</summary>
    public byte[] ReadBytes(TensorProto tensor) => TensorData.ReadBytes(tensor, this);

    /// <summary>
    /// Writes the model to <paramref name="path"/>, weights inline or in one external data file (see
    /// <see cref="SaveOptions"/>). Both files are written under temporary names and renamed, the data file first.
    /// Afterwards this model refers to the saved files, so its external references stay true.
    /// </summary>
    public SaveResult Save(string path, SaveOptions? options = null) => ModelSaver.Save(this, path, options ?? SaveOptions.Inline);

    /// <summary>Points this model at the files it was just saved to.</summary>
    internal void MovedTo(string filePath)
    {
        FilePath = Path.GetFullPath(filePath);
        BaseDirectory = Path.GetDirectoryName(FilePath)!;
    }
}
