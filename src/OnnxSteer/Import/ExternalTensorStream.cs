using Google.Protobuf;
using Onnx;

namespace OnnxSteer.Import;

/// <summary>
/// Appends tensor bytes to one external-data stream (model.onnx.data) and returns the <see cref="TensorProto"/> that
/// points at them. Each tensor starts on a 64-byte boundary so runtimes can map it directly.
/// </summary>
public sealed class ExternalTensorStream(Stream stream, string location)
{
    private const int Alignment = 64;
    private long _offset;

    /// <summary>Bytes written so far.</summary>
    public long Length => _offset;

    /// <summary>
    /// Writes a tensor through <paramref name="write"/> (which must write exactly <paramref name="byteLength"/> bytes)
    /// and returns its proto with <c>data_location = EXTERNAL</c>.
    /// </summary>
    public TensorProto Add(string name, TensorProto.Types.DataType type, long[] dims, long byteLength, Action<Stream> write)
    {
        Pad();
        long start = _offset;
        var counting = new CountingStream(stream);
        write(counting);
        if (counting.Written != byteLength)
            throw new InvalidOperationException($"tensor {name}: wrote {counting.Written} bytes, expected {byteLength}");
        _offset += byteLength;
        var tensor = new TensorProto { Name = name, DataType = (int)type, DataLocation = TensorProto.Types.DataLocation.External };
        tensor.Dims.AddRange(dims);
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = start.ToString() });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = byteLength.ToString() });
        return tensor;
    }

    /// <summary>Writes a small tensor held in memory.</summary>
    public TensorProto Add(string name, TensorProto.Types.DataType type, long[] dims, ReadOnlyMemory<byte> bytes) =>
        Add(name, type, dims, bytes.Length, s => s.Write(bytes.Span));

    private void Pad()
    {
        int pad = (int)((Alignment - _offset % Alignment) % Alignment);
        if (pad == 0) return;
        stream.Write(new byte[pad]);
        _offset += pad;
    }

    /// <summary>A write-only pass-through that counts bytes, to check each tensor's declared length.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Written { get; private set; }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) { inner.Write(buffer, offset, count); Written += count; }
        public override void Write(ReadOnlySpan<byte> buffer) { inner.Write(buffer); Written += buffer.Length; }
    }
}
