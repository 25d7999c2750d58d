using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace OnnxSteer.Server;

/// <summary>
/// Who may drive the server. With an API key: requests carrying it (<c>Authorization: Bearer KEY</c>, the scheme in
/// any case), compared in constant time. Without one (loopback only): requests whose <c>Host</c> names loopback, and
/// POSTs with a JSON content type — a web page can make a browser send a <c>text/plain</c> POST to 127.0.0.1 without
/// asking (a CORS "simple request"), and with DNS rebinding read the answer under its own host name; neither gets past
/// these two checks.
/// </summary>
internal sealed class RequestGuard(string? apiKey)
{
    /// <summary>Paths a GET may reach without the API key: liveness and readiness probes, which cannot carry one.</summary>
    public static readonly IReadOnlySet<string> ProbePaths = new HashSet<string>(["/health", "/ready"], StringComparer.OrdinalIgnoreCase);

    public void Check(HttpRequest request)
    {
        if (!string.IsNullOrEmpty(apiKey))
        {
            if (HttpMethods.IsGet(request.Method) && ProbePaths.Contains(request.Path.Value ?? "")) return;
            if (!HasKey(request.Headers.Authorization.ToString(), apiKey)) throw ApiErrors.Unauthorized();
            return;
        }
        if (!IsLoopbackHost(request.Host))
            throw new ApiError(400, $"Host '{LogText.Escape(request.Host.Value)}': a server without an API key answers only requests to a loopback host (localhost, 127.0.0.1, [::1])", code: "invalid_host");
        if (HttpMethods.IsPost(request.Method) && !IsJson(request.ContentType))
            throw new ApiError(415, $"Content-Type '{LogText.Escape(request.ContentType)}': the body must be sent as application/json", code: "unsupported_media_type");
    }

    private static bool HasKey(string header, string key)
    {
        const string scheme = "Bearer ";
        var given = header.Length > scheme.Length && header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? header[scheme.Length..].Trim() : "";
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(key));
    }

    /// <summary>localhost (or a name under .localhost), or a loopback IP literal, with any port; an absent Host (HTTP/1.0) too.</summary>
    internal static bool IsLoopbackHost(HostString host)
    {
        if (!host.HasValue) return true;
        var name = host.Host.TrimEnd('.');
        if (name.Equals("localhost", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)) return true;
        if (name.StartsWith('[') && name.EndsWith(']')) name = name[1..^1];
        return IPAddress.TryParse(name, out var ip) && IsLoopback(ip) && !name.Contains('%');
    }

    internal static bool IsLoopback(IPAddress ip) => IPAddress.IsLoopback(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip);

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media)
        && (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (media.MediaType.Value is { } t && t.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && t.EndsWith("+json", StringComparison.OrdinalIgnoreCase)));
}
