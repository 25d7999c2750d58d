using Google.Protobuf;
using Onnx;
using OnnxSteer.IO;

namespace OnnxSteer.ModelFiles;

/// <summary>
/// Writes an <see cref="OnnxModel"/> with its weights inline or external. It works on a copy of the protobuf (the
/// copy shares the immutable weight buffers), so a failed save leaves the model untouched; on success the copy's
/// storage is moved back into the model's own tensors.
/// </summary>
internal static class ModelSaver
{
    /// <summary>Protobuf cannot encode a message of 2 GB or more.</summary>
    private const long ProtobufLimit = int.MaxValue;

    public static SaveResult Save(OnnxModel model, string path, SaveOptions options)
    {
        var fullPath = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(fullPath)!;
        var copy = model.Proto.Clone();
        var originals = TensorWalker.All(model.Proto).ToList();
        var copies = TensorWalker.All(copy).ToList();

        ExternalDataWriter? writer = null;
        try
        {
            long inlineBytes = 0;
            if (options.ExternalDataFile is string dataFile)
            {
                if (options.SizeThreshold < 0) throw new ArgumentOutOfRangeException(nameof(options), "size threshold must not be negative");
                writer = new ExternalDataWriter(folder, dataFile, options.Alignment);
                if (SamePath(writer.FilePath, fullPath))
                    throw new OnnxSteerException($"{fullPath}: the external data file would overwrite the model file itself");
            }
            for (var i = 0; i < copies.Count; i++)
            {
                var (tensor, role) = copies[i];
                var size = TensorData.ByteSize(tensor);
                var goesExternal = writer is not null && role == TensorRole.Initializer && size >= 0 && size >= options.SizeThreshold;
                if (goesExternal)
                {
                    using var source = TensorData.OpenRead(originals[i].Tensor, model.BaseDirectory, model.DisplayName);
                    writer!.Write(tensor, source, size);
                }
                else if (ExternalDataReference.IsExternal(tensor))
                {
                    inlineBytes += size;
                    CheckInlineSize(inlineBytes, fullPath);
                    var bytes = TensorData.ReadBytes(originals[i].Tensor, model.BaseDirectory, model.DisplayName);
                    TensorData.ClearStorage(tensor);
                    tensor.RawData = ByteString.CopyFrom(bytes);
                }
                else if (size > 0) inlineBytes += size;
            }
            CheckInlineSize(inlineBytes, fullPath);

            SaveResult result;
            var dataPath = writer is { TensorCount: > 0 } ? writer.FilePath : null;
            var dataBytes = writer is { TensorCount: > 0 } ? writer.Length : 0;
            if (writer is { TensorCount: > 0 }) writer.Commit(); // the data file lands before the model that points into it
            AtomicFile.Write(fullPath, stream => copy.WriteTo(stream));
            result = new SaveResult(fullPath, dataPath, writer?.TensorCount ?? 0, dataBytes, new FileInfo(fullPath).Length);

            for (var i = 0; i < copies.Count; i++) MoveStorage(copies[i].Tensor, originals[i].Tensor);
            model.MovedTo(fullPath);
            return result;
        }
        finally
        {
            writer?.Dispose();
        }
    }

    private static void CheckInlineSize(long inlineBytes, string path)
    {
        if (inlineBytes >= ProtobufLimit)
            throw new OnnxSteerException(
                $"{path}: the weights kept inline come to {inlineBytes} bytes, over protobuf's 2 GB limit for one file; save with external data");
    }

    /// <summary>Gives <paramref name="to"/> the stored values of <paramref name="from"/> (raw, typed or external).</summary>
    private static void MoveStorage(TensorProto from, TensorProto to)
    {
        TensorData.ClearStorage(to);
        if (from.HasRawData) to.RawData = from.RawData;
        to.FloatData.Add(from.FloatData);
        to.Int32Data.Add(from.Int32Data);
        to.Int64Data.Add(from.Int64Data);
        to.DoubleData.Add(from.DoubleData);
        to.Uint64Data.Add(from.Uint64Data);
        to.ExternalData.Add(from.ExternalData.Select(e => e.Clone()));
        if (from.HasDataLocation) to.DataLocation = from.DataLocation;
    }

    private static bool SamePath(string a, string b) => string.Equals(RealPath.Resolve(a), RealPath.Resolve(b), StringComparison.Ordinal);
}
