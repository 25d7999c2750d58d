using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;

namespace OnnxSteer.Server;

/// <summary>
/// What operators need besides the API: <c>GET /health</c> (the process answers), <c>GET /ready</c> (models loaded and
/// not stopping: 503 while draining), <c>GET /metrics</c> (<see cref="ServerMetrics"/>, Prometheus text), and a request
/// id on every request — the client's <c>X-Request-Id</c> when it is a short token, else a new one — echoed in the
/// response header and carried by every log line the request writes.
/// </summary>
public sealed partial class SteeringServer
{
    private const string RequestIdHeader = "X-Request-Id";
    private const string SteeringItem = "onnxsteer.steering";
    private const string ClockItem = "onnxsteer.clock";
    private static readonly AsyncLocal<string?> CurrentRequestId = new();

    /// <summary>The server's counters (what <c>/metrics</c> shows).</summary>
    public ServerMetrics Metrics { get; } = new();

    [GeneratedRegex("^[A-Za-z0-9._:-]{1,64}$")]
    private static partial Regex RequestIdPattern();

    private void MapOperations(WebApplication app)
    {
        app.MapGet("/health", context => WriteJson(context.Response, 200, w => w.WriteString("status", "ok")));
        app.MapGet("/ready", context =>
        {
            var stopping = app.Lifetime.ApplicationStopping.IsCancellationRequested;
            return WriteJson(context.Response, stopping ? 503 : 200, w =>
            {
                w.WriteString("status", stopping ? "stopping" : "ready");
                w.WriteString("model", ModelId);
                w.WriteStartArray("profiles");
                foreach (var p in _profileNames) w.WriteStringValue(p);
                w.WriteEndArray();
            });
        });
        app.MapGet("/metrics", async context =>
        {
            context.Response.StatusCode = 200;
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await context.Response.WriteAsync(Metrics.Render()).ConfigureAwait(false);
        });
    }

    /// <summary>Starts a request: its id (header, log lines) and the in-flight gauge. Dispose at the end.</summary>
    private IDisposable BeginRequest(HttpContext context)
    {
        var given = context.Request.Headers[RequestIdHeader].ToString();
        var id = RequestIdPattern().IsMatch(given) ? given : Guid.NewGuid().ToString("N")[..16];
        CurrentRequestId.Value = id;
        context.Response.Headers[RequestIdHeader] = id;
        context.Items[ClockItem] = Stopwatch.StartNew();
        return Metrics.Track();
    }

    /// <summary>Ends a request: counts it by endpoint, status and steering, with its latency.</summary>
    private void EndRequest(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        var endpoint = path is "/v1/models" or "/v1/completions" or "/v1/chat/completions" or "/health" or "/ready" or "/metrics" ? path : "other";
        var (profile, strength) = context.Items[SteeringItem] is SteeringChoice s ? SteeringLabels(s) : ("", "");
        var seconds = context.Items[ClockItem] is Stopwatch clock ? clock.Elapsed.TotalSeconds : 0;
        Metrics.Request(endpoint, context.Response.StatusCode, profile, strength, seconds);
    }

    /// <summary>Notes the steering a request runs with (labels for its metrics).</summary>
    private static void NoteSteering(HttpContext context, SteeringChoice steering) => context.Items[SteeringItem] = steering;

    /// <summary>Counts a generation's tokens under its steering.</summary>
    private void NoteTokens(SteeringChoice steering, int prompt, int completion)
    {
        var (profile, strength) = SteeringLabels(steering);
        Metrics.Tokens(profile, strength, prompt, completion);
    }

    /// <summary>Notes the first generated token of a request.</summary>
    private void NoteFirstToken(HttpContext context, SteeringChoice steering)
    {
        var (profile, strength) = SteeringLabels(steering);
        if (context.Items[ClockItem] is Stopwatch clock) Metrics.FirstToken(profile, strength, clock.Elapsed.TotalSeconds);
    }

    private static (string Profile, string Strength) SteeringLabels(SteeringChoice s) =>
        s.Steps is { } steps ? (s.Profile!, string.Join("+", steps.Select(step => ServerMetrics.StrengthBucket(step.Strength))))
        : s.Profile is null ? ("none", "0") : (s.Profile, ServerMetrics.StrengthBucket(s.Strength));

    /// <summary><paramref name="line"/> with the current request's id after the "onnxsteer serve:" prefix.</summary>
    private static string WithRequestId(string line)
    {
        const string prefix = "onnxsteer serve: ";
        return CurrentRequestId.Value is { } id && line.StartsWith(prefix, StringComparison.Ordinal)
            ? $"{prefix}[{id}] {line[prefix.Length..]}"
            : line;
    }
}
