using System.Diagnostics;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace OnnxSteer.Server;

/// <summary>
/// Every refusal as an OpenAI error object (<c>{"error": {"message", "type", "param", "code"}}</c>) with its status
/// and the headers it needs, and one log line for it, request text escaped: the server's own errors, the request
/// guard's (401 with <c>WWW-Authenticate</c>, Host, Content-Type), Kestrel's body errors (413 past the body limit,
/// 408 for a body that trickles), 404 or 405 with <c>Allow</c> for a route, 500 for a bug.
/// </summary>
internal sealed class ErrorObjects(Action<string> log, RequestGuard guard)
{
    /// <summary>JSON as clients read it: only what JSON requires is escaped (no <c>\u0027</c> for an apostrophe).</summary>
    public static JsonWriterOptions JsonOptions { get; } = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            guard.Check(context.Request);
            await next(context).ConfigureAwait(false);
        }
        catch (ApiError e)
        {
            await Refuse(context, e).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e)
        {
            await Refuse(context, FromKestrel(e)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            log($"onnxsteer serve: {Where(context)}: cut after {clock.ElapsedMilliseconds} ms (client gone or server stopping)");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            log($"onnxsteer serve: 500 {Where(context)}: {e.GetType().Name}: {LogText.Escape(e.Message, 500)}");
            if (!context.Response.HasStarted)
                await Write(context.Response, new ApiError(500, $"generation failed: {LogText.Escape(e.Message, 500)}", type: "server_error")).ConfigureAwait(false);
        }
    }

    private async Task Refuse(HttpContext context, ApiError e)
    {
        log($"onnxsteer serve: {e.Status} {Where(context)}: {e.Message}");
        if (!context.Response.HasStarted) await Write(context.Response, e).ConfigureAwait(false);
    }

    private static string Where(HttpContext context) =>
        $"{LogText.Escape(context.Request.Method, 16)} {LogText.Escape(context.Request.Path.Value)}";

    /// <summary>Kestrel's refusal of a request body, in the server's words.</summary>
    internal static ApiError FromKestrel(BadHttpRequestException e) => e.StatusCode switch
    {
        413 => new(413, "the body is larger than this server takes", code: "body_too_large") { CloseConnection = true },
        408 => new(408, "the body arrived too slowly", code: "request_timeout") { CloseConnection = true },
        var status => new(status, $"bad request: {LogText.Escape(e.Message)}") { CloseConnection = true },
    };

    /// <summary>The fallback route: 405 with <c>Allow</c> when the path exists for other methods, else 404.</summary>
    public static Task NoRoute(HttpContext context)
    {
        var path = (context.Request.Path.Value ?? "").TrimEnd('/');
        var allowed = context.RequestServices.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => string.Equals(e.RoutePattern.RawText?.TrimEnd('/'), path, StringComparison.OrdinalIgnoreCase))
            .SelectMany(e => e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? [])
            .Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal).ToList();
        var method = LogText.Escape(context.Request.Method, 16);
        var shown = LogText.Escape(context.Request.Path.Value);
        throw allowed.Count > 0
            ? ApiErrors.MethodNotAllowed(method, shown, allowed)
            : new ApiError(404, $"no route {method} {shown}", code: "unknown_route");
    }

    /// <summary>Writes <paramref name="e"/> as the response: status, headers, the error object.</summary>
    public static async Task Write(HttpResponse response, ApiError e)
    {
        response.Clear();
        response.StatusCode = e.Status;
        foreach (var (name, value) in e.Headers) response.Headers[name] = value;
        if (e.RetryAfterSeconds is { } seconds) response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (e.CloseConnection) response.Headers.Connection = "close";
        response.ContentType = "application/json";
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, JsonOptions))
        {
            w.WriteStartObject();
            WriteBody(w, e);
            w.WriteEndObject();
        }
        response.ContentLength = buffer.Length;
        await response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length)).ConfigureAwait(false);
    }

    /// <summary>The <c>"error"</c> member of an error object (also a stream's closing error event).</summary>
    public static void WriteBody(Utf8JsonWriter w, ApiError e)
    {
        w.WriteStartObject("error");
        w.WriteString("message", e.Message);
        w.WriteString("type", e.Type);
        if (e.Param is null) w.WriteNull("param"); else w.WriteString("param", e.Param);
        if (e.Code is null) w.WriteNull("code"); else w.WriteString("code", e.Code);
        w.WriteEndObject();
    }
}
