using Onnx;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Import;

/// <summary>
/// Where exporters put weights: each tensor's bytes are streamed, chunk by chunk, into the model's external data file
/// through <see cref="ExternalDataWriter"/> (aligned offsets, written under a temporary name until committed), and the
/// returned <see cref="TensorProto"/> points at them.
/// </summary>
internal sealed class WeightSink(ExternalDataWriter writer)
{
    /// <summary>Bytes written so far.</summary>
    public long Length => writer.Length;

    /// <summary>Writes a tensor whose bytes <paramref name="chunks"/> produces in order (exactly <paramref name="byteLength"/> in all).</summary>
    public TensorProto Add(string name, TensorProto.Types.DataType type, long[] dims, long byteLength, IEnumerable<ReadOnlyMemory<byte>> chunks)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type };
        tensor.Dims.AddRange(dims);
        using var source = new ChunkReadStream(chunks);
        writer.Write(tensor, source, byteLength);
        if (source.ReadAll() != 0) throw new InvalidOperationException($"tensor {name}: the encoder produced more than {byteLength} bytes");
        return tensor;
    }

    /// <summary>Writes a small tensor held in memory.</summary>
    public TensorProto Add(string name, TensorProto.Types.DataType type, long[] dims, byte[] bytes) =>
        Add(name, type, dims, bytes.Length, [bytes]);

    /// <summary>A read-only stream over a sequence of chunks, pulling the next chunk only when the current one is used up.</summary>
    private sealed class ChunkReadStream(IEnumerable<ReadOnlyMemory<byte>> chunks) : Stream
    {
        private readonly IEnumerator<ReadOnlyMemory<byte>> _chunks = chunks.GetEnumerator();
        private ReadOnlyMemory<byte> _current = ReadOnlyMemory<byte>.Empty;
        private long _position;

        public override int Read(Span<byte> buffer)
        {
            while (_current.IsEmpty)
            {
                if (!_chunks.MoveNext()) return 0;
                _current = _chunks.Current;
            }
            int count = Math.Min(buffer.Length, _current.Length);
            _current.Span[..count].CopyTo(buffer);
            _current = _current[count..];
            _position += count;
            return count;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        /// <summary>Drains what is left, returning how many bytes that was.</summary>
        public long ReadAll()
        {
            long left = _current.Length;
            _current = ReadOnlyMemory<byte>.Empty;
            while (_chunks.MoveNext()) left += _chunks.Current.Length;
            return left;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) _chunks.Dispose();
            base.Dispose(disposing);
        }
    }
}
