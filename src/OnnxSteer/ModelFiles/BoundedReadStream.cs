using System.Runtime.InteropServices;

namespace OnnxSteer.ModelFiles;

/// <summary>A read-only window of <c>length</c> bytes starting at <c>offset</c> of a file: one external tensor.</summary>
internal sealed class BoundedReadStream : Stream
{
    private readonly FileStream _file;
    private readonly long _start;
    private readonly long _length;
    private long _position;

    public BoundedReadStream(string path, long offset, long length)
    {
        _file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        _start = offset;
        _length = length;
    }

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => _position = Math.Clamp(value, 0, _length);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var left = _length - _position;
        if (left <= 0) return 0;
        if (buffer.Length > left) buffer = buffer[..(int)left];
        _file.Position = _start + _position;
        var n = _file.Read(buffer);
        _position += n;
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => _length + offset,
    };

    /// <summary>
    /// Where the next stored data begins at or after <see cref="Position"/>, relative to this window; bytes before it
    /// are a hole in a sparse file and read as zeros. Lets a copy skip gigabytes of holes without reading them.
    /// Without a way to ask (non-Linux), it answers <see cref="Position"/>.
    /// </summary>
    public long NextDataPosition()
    {
        if (!OperatingSystem.IsLinux() || _position >= _length) return _position;
        try
        {
            var fd = (int)_file.SafeFileHandle.DangerousGetHandle();
            var at = LSeek(fd, _start + _position, SeekData);
            if (at < 0) return Marshal.GetLastPInvokeError() == ENXIO ? _length : _position; // ENXIO: only a hole remains
            return Math.Clamp(at - _start, _position, _length);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return _position;
        }
    }

    private const int SeekData = 3;
    private const int ENXIO = 6;

    // FileStream reads with pread at its own position, so moving the descriptor's offset here disturbs nothing.
    [DllImport("libc.so.6", EntryPoint = "lseek", SetLastError = true)]
    private static extern long LSeek(int fd, long offset, int whence);

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _file.Dispose();
        base.Dispose(disposing);
    }
}
