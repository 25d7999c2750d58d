using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;

namespace OnnxSteer.Server;

/// <summary>
/// Kestrel's own refusals as OpenAI error objects. A request Kestrel cannot parse (a malformed request line or header,
/// a URL too long, headers too large, an HTTP version it does not speak, headers that never finish) is answered by
/// Kestrel before any middleware runs, with an empty body and <c>Connection: close</c>. This connection middleware
/// watches what the connection writes: a response head with status 400 or more and <c>Content-Length: 0</c> — which
/// the server's own code never sends: its errors all carry an error object — gets the error object for its status.
/// </summary>
internal static class KestrelRefusals
{
    public static ConnectionDelegate Wrap(ConnectionDelegate next) => async connection =>
    {
        var original = connection.Transport;
        connection.Transport = new Pipe(original.Input, new RewritingWriter(original.Output));
        try { await next(connection).ConfigureAwait(false); }
        finally { connection.Transport = original; }
    };

    /// <summary>The error object Kestrel's empty refusal with <paramref name="status"/> stands for.</summary>
    internal static ApiError For(int status) => status switch
    {
        400 => new(400, "the request is malformed (request line, headers or chunked body)", code: "bad_request"),
        408 => new(408, "the request headers did not arrive in time", code: "request_timeout"),
        413 => new(413, "the body is larger than this server takes", code: "body_too_large"),
        414 => new(414, "the request line (URL) is too long", code: "uri_too_long"),
        431 => new(431, "the request headers are too large", code: "headers_too_large"),
        505 => new(505, "this server speaks HTTP/1.1 (and 1.0)", code: "http_version_not_supported"),
        _ => new(status, $"the request was refused ({status})", code: null),
    };

    /// <summary>
    /// The head with a body: <c>Content-Length</c> set to the body's and <c>Content-Type</c> added; null when
    /// <paramref name="written"/> is not exactly an empty-bodied refusal head.
    /// </summary>
    internal static byte[]? Rewrite(ReadOnlySpan<byte> written)
    {
        if (written.Length < 16 || written.Length > 4096 || !written.StartsWith("HTTP/1."u8) || !written.EndsWith("\r\n\r\n"u8)) return null;
        var head = Encoding.ASCII.GetString(written);
        if (head.IndexOf("\r\n\r\n", StringComparison.Ordinal) != head.Length - 4) return null;
        if (!int.TryParse(head.AsSpan(9, 3), out var status) || status < 400) return null;
        const string empty = "\r\nContent-Length: 0\r\n";
        var at = head.IndexOf(empty, StringComparison.OrdinalIgnoreCase);
        if (at < 0 || head.Contains("\r\nContent-Type:", StringComparison.OrdinalIgnoreCase)) return null;
        var buffer = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(buffer, ErrorObjects.JsonOptions))
        {
            w.WriteStartObject();
            ErrorObjects.WriteBody(w, For(status));
            w.WriteEndObject();
        }
        var body = buffer.ToArray();
        var rewritten = head[..at] + $"\r\nContent-Length: {body.Length}\r\nContent-Type: application/json\r\n" + head[(at + empty.Length)..];
        return [.. Encoding.ASCII.GetBytes(rewritten), .. body];
    }

    private sealed class Pipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    /// <summary>
    /// Passes everything through, except that the bytes of one flush are first gathered, so a refusal head (always
    /// flushed alone, as the connection's last write) can be recognised whole and replaced.
    /// </summary>
    private sealed class RewritingWriter(PipeWriter inner) : PipeWriter
    {
        private readonly ArrayBufferWriter<byte> _pending = new();

        public override void Advance(int bytes) => _pending.Advance(bytes);
        public override Memory<byte> GetMemory(int sizeHint = 0) => _pending.GetMemory(sizeHint);
        public override Span<byte> GetSpan(int sizeHint = 0) => _pending.GetSpan(sizeHint);
        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            MovePending();
            return await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        public override void Complete(Exception? exception = null)
        {
            MovePending();
            inner.Complete(exception);
        }

        public override async ValueTask CompleteAsync(Exception? exception = null)
        {
            MovePending();
            await inner.CompleteAsync(exception).ConfigureAwait(false);
        }

        private void MovePending()
        {
            if (_pending.WrittenCount == 0) return;
            var written = _pending.WrittenSpan;
            var replaced = Rewrite(written);
            if (replaced is not null) inner.Write(replaced);
            else inner.Write(written);
            _pending.ResetWrittenCount();
        }
    }
}
