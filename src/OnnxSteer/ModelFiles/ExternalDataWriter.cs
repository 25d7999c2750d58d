using Onnx;
using OnnxSteer.IO;

namespace OnnxSteer.ModelFiles;

/// <summary>
/// Streams tensor bytes into one external data file at aligned offsets and points each tensor at its bytes
/// (<c>external_data</c> location/offset/length, <c>data_location = EXTERNAL</c>). It never holds more than one
/// buffer of weights, so an importer can write gigabytes. The file is written under a temporary name and only
/// appears under its real name on <see cref="Commit"/>; disposing without committing removes it.
/// </summary>
/// <example>
/// <code>
/// using var data = new ExternalDataWriter(modelFolder, "model.onnx.data");
/// data.Write(tensor, bytes);              // for each large tensor
/// data.Commit();                          // the data file first ...
/// AtomicFile.Write(modelPath, s => proto.WriteTo(s)); // ... then the model (or use OnnxModel.Save)
/// </code>
/// </example>
internal sealed class ExternalDataWriter : IDisposable
{
    /// <summary>Offsets are multiples of this by default: one memory page, so runtimes can map weights directly.</summary>
    public const long DefaultAlignment = 4096;

    private const int BufferSize = 1 << 20;
    private readonly FileStream _stream;
    private readonly string _tempPath;
    private bool _committed;

    /// <summary>The location written into tensors, relative to the model's folder.</summary>
    public string Location { get; }

    /// <summary>The data file's final path.</summary>
    public string FilePath { get; }

    /// <summary>The alignment of every tensor's offset, in bytes.</summary>
    public long Alignment { get; }

    /// <summary>Bytes written so far, padding included: the data file's size once committed.</summary>
    public long Length => _stream.Length;

    /// <summary>Number of tensors written.</summary>
    public int TensorCount { get; private set; }

    /// <summary>Starts a data file <paramref name="location"/> (a plain relative name) in <paramref name="modelDirectory"/>.</summary>
    public ExternalDataWriter(string modelDirectory, string location, long alignment = DefaultAlignment)
    {
        ExternalDataGuard.CheckLocationText(location, Path.Combine(modelDirectory, "(model being written)"));
        if (alignment < 1) throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "alignment must be at least 1 byte");
        Location = location.Replace('\\', '/');
        Alignment = alignment;
        FilePath = Path.GetFullPath(Path.Combine(modelDirectory, location));
        Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
        _tempPath = AtomicFile.TempNameFor(FilePath);
        _stream = new FileStream(_tempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, BufferSize);
    }

    /// <summary>Appends <paramref name="bytes"/> as the values of <paramref name="tensor"/> and makes the tensor external.</summary>
    public void Write(TensorProto tensor, ReadOnlySpan<byte> bytes)
    {
        var offset = BeginTensor(tensor, bytes.Length);
        _stream.Write(bytes);
        EndTensor(tensor, offset, bytes.Length);
    }

    /// <summary>Copies exactly <paramref name="length"/> bytes from <paramref name="source"/> as the values of
    /// <paramref name="tensor"/>. All-zero blocks become holes in the file, so zero-filled weights cost no disk.</summary>
    public void Write(TensorProto tensor, Stream source, long length)
    {
        var offset = BeginTensor(tensor, length);
        var buffer = new byte[(int)Math.Min(BufferSize, Math.Max(length, 1))];
        var left = length;
        while (left > 0)
        {
            if (source is BoundedReadStream window && window.NextDataPosition() is var dataAt && dataAt > window.Position)
            {
                var hole = Math.Min(dataAt - window.Position, left); // a hole in the source stays a hole here
                window.Position += hole;
                _stream.Seek(hole, SeekOrigin.Current);
                left -= hole;
                continue;
            }
            var chunk = buffer.AsSpan(0, (int)Math.Min(buffer.Length, left));
            source.ReadExactly(chunk);
            if (chunk.ContainsAnyExcept((byte)0)) _stream.Write(chunk);
            else _stream.Seek(chunk.Length, SeekOrigin.Current);
            left -= chunk.Length;
        }
        EndTensor(tensor, offset, length);
    }

    /// <summary>Flushes the data file to disk and renames it to its final name (replacing an older one).</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_committed, this);
        if (_stream.Length < _stream.Position) _stream.SetLength(_stream.Position); // materialise a trailing hole
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
        File.Move(_tempPath, FilePath, overwrite: true);
        _committed = true;
    }

    /// <summary>Removes the temporary file unless <see cref="Commit"/> ran.</summary>
    public void Dispose()
    {
        if (_committed) return;
        _stream.Dispose();
        AtomicFile.TryDelete(_tempPath);
    }

    private long BeginTensor(TensorProto tensor, long length)
    {
        ObjectDisposedException.ThrowIf(_committed, this);
        var expected = TensorData.ByteSize(tensor);
        if (expected < 0)
            throw new ArgumentException($"tensor '{tensor.Name}' of type {DataTypes.Name(tensor.DataType)} cannot be stored as external data");
        if (expected != length)
            throw new ArgumentException($"tensor '{tensor.Name}': {length} bytes given but its shape and type need {expected}");
        var offset = (_stream.Position + Alignment - 1) / Alignment * Alignment;
        _stream.Position = offset; // the gap stays a hole: padding costs no disk
        return offset;
    }

    private void EndTensor(TensorProto tensor, long offset, long length)
    {
        if (_stream.Length < _stream.Position) _stream.SetLength(_stream.Position);
        new ExternalDataReference(Location, offset, length).ApplyTo(tensor);
        TensorCount++;
    }
}
