using System.Runtime.InteropServices;

namespace OnnxSteer.ModelFiles;

/// <summary>
/// Reads protobuf wire format (tags, varints, length-delimited payloads) from a file at known absolute positions,
/// through its own buffer, so large payloads can be skipped (a seek) or copied without ever being held whole.
/// Used by <see cref="StreamingModelRewriter"/>; malformed input raises <see cref="InvalidModelException"/>.
/// </summary>
internal sealed class WireScanner : IDisposable
{
    /// <summary>Protobuf wire types this scanner understands (groups are refused: ONNX never uses them).</summary>
    public const int Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5;

    private readonly FileStream _file;
    private readonly string _name;
    private readonly byte[] _buffer;
    private long _bufferStart;   // file position of _buffer[0]
    private int _bufferLength;   // valid bytes in _buffer
    private int _bufferPos;      // next byte to read

    public WireScanner(string path, int bufferSize = 1 << 20)
    {
        _name = path;
        _file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.None);
        _buffer = new byte[bufferSize];
        Length = _file.Length;
    }

    /// <summary>The file's length when it was opened.</summary>
    public long Length { get; }

    /// <summary>The absolute file position of the next byte.</summary>
    public long Position => _bufferStart + _bufferPos;

    private bool Fill()
    {
        _bufferStart += _bufferLength;
        _bufferPos = 0;
        _bufferLength = 0;
        _file.Position = _bufferStart;
        while (_bufferLength < _buffer.Length)
        {
            var n = _file.Read(_buffer, _bufferLength, _buffer.Length - _bufferLength);
            if (n == 0) break;
            _bufferLength += n;
        }
        return _bufferLength > 0;
    }

    private byte ReadByte()
    {
        if (_bufferPos >= _bufferLength && !Fill()) throw Truncated();
        return _buffer[_bufferPos++];
    }

    /// <summary>A base-128 varint (at most 10 bytes).</summary>
    public ulong ReadVarint()
    {
        ulong value = 0;
        for (var shift = 0; shift < 70; shift += 7)
        {
            var b = ReadByte();
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return value;
        }
        throw new InvalidModelException($"{_name}: malformed protobuf varint at byte {Position}");
    }

    /// <summary>A length prefix, checked to lie inside <paramref name="end"/>.</summary>
    public long ReadLength(long end)
    {
        var len = ReadVarint();
        if (len > (ulong)(end - Position))
            throw new InvalidModelException($"{_name}: protobuf field at byte {Position} claims {len} bytes, past the end of its message");
        return (long)len;
    }

    /// <summary>Moves to absolute position <paramref name="position"/> (forward or back).</summary>
    public void Seek(long position)
    {
        if (position >= _bufferStart && position <= _bufferStart + _bufferLength)
        {
            _bufferPos = (int)(position - _bufferStart);
            return;
        }
        _bufferStart = position;
        _bufferLength = 0;
        _bufferPos = 0;
    }

    /// <summary>Ranges at least this long go file-to-file in the kernel where possible.</summary>
    private const long KernelCopyMin = 64 * 1024;

    /// <summary>Copies the next <paramref name="count"/> bytes to <paramref name="output"/>: file to file in the kernel
    /// (copy_file_range, as File.Copy does on Linux) when both are files, otherwise through the buffer.</summary>
    public void CopyTo(Stream output, long count)
    {
        if (count >= KernelCopyMin && output is FileStream file && OperatingSystem.IsLinux())
            count -= KernelCopy(file, count);
        while (count > 0)
        {
            if (_bufferPos >= _bufferLength && !Fill()) throw Truncated();
            var n = (int)Math.Min(count, _bufferLength - _bufferPos);
            output.Write(_buffer, _bufferPos, n);
            _bufferPos += n;
            count -= n;
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern nint copy_file_range(int fdIn, ref long offIn, int fdOut, ref long offOut, nuint len, uint flags);

    /// <summary>Copies up to <paramref name="count"/> bytes from the current position to <paramref name="output"/>'s
    /// position with copy_file_range; returns how many were copied (0 when the kernel or file system cannot, e.g.
    /// across file systems on old kernels: the caller copies the rest through the buffer). Both positions advance.</summary>
    private long KernelCopy(FileStream output, long count)
    {
        long copied = 0;
        try
        {
            output.Flush();
            var inFd = (int)_file.SafeFileHandle.DangerousGetHandle();
            var outFd = (int)output.SafeFileHandle.DangerousGetHandle();
            long inOff = Position, outOff = output.Position;
            while (copied < count)
            {
                var n = copy_file_range(inFd, ref inOff, outFd, ref outOff, (nuint)Math.Min(count - copied, 1L << 30), 0);
                if (n <= 0) break; // error or end of file: the buffered copy goes on (and reports a truncated file)
                copied += n;
            }
            output.Position = outOff;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        Seek(Position + copied);
        return copied;
    }

    /// <summary>The bytes of a field's value after its tag, for wire type <paramref name="wireType"/>, copied to
    /// <paramref name="output"/> (length prefix included).</summary>
    public void CopyValue(int wireType, Stream output, long end)
    {
        switch (wireType)
        {
            case Varint:
                WriteVarint(output, ReadVarint());
                break;
            case Fixed64:
                CopyTo(output, 8);
                break;
            case Fixed32:
                CopyTo(output, 4);
                break;
            case LengthDelimited:
                var len = ReadLength(end);
                WriteVarint(output, (ulong)len);
                CopyTo(output, len);
                break;
            default:
                throw new InvalidModelException($"{_name}: unsupported protobuf wire type {wireType} at byte {Position}");
        }
        if (Position > end) throw new InvalidModelException($"{_name}: protobuf field at byte {Position} runs past the end of its message");
    }

    /// <summary>Writes <paramref name="value"/> as a varint.</summary>
    public static void WriteVarint(Stream output, ulong value)
    {
        Span<byte> bytes = stackalloc byte[10];
        var n = 0;
        while (value >= 0x80)
        {
            bytes[n++] = (byte)(value | 0x80);
            value >>= 7;
        }
        bytes[n++] = (byte)value;
        output.Write(bytes[..n]);
    }

    /// <summary>Bytes <see cref="WriteVarint"/> takes for <paramref name="value"/>.</summary>
    public static int VarintSize(ulong value)
    {
        var n = 1;
        while (value >= 0x80) { value >>= 7; n++; }
        return n;
    }

    private InvalidModelException Truncated() => new($"{_name}: the file ends in the middle of a protobuf field (truncated at byte {Position})");

    public void Dispose() => _file.Dispose();
}
