using System.Globalization;
using System.Text;

namespace OnnxSteer.Server;

/// <summary>
/// The server's counters, in the Prometheus text exposition format (version 0.0.4) at <c>GET /metrics</c>: requests by
/// endpoint, status code, profile and strength bucket; prompt and completion tokens; request latency and
/// time-to-first-token histograms; requests in flight. Label values are bounded: endpoints are the routes the server
/// has (anything else is "other"), profiles the names loaded at start, strengths one of a few buckets.
/// </summary>
public sealed class ServerMetrics
{
    /// <summary>Histogram bucket bounds in seconds (Prometheus' client defaults, up to two minutes).</summary>
    public static readonly double[] SecondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

    private readonly Lock _lock = new();
    private readonly Dictionary<string, long> _requests = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _promptTokens = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _completionTokens = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Histogram> _latency = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Histogram> _firstToken = new(StringComparer.Ordinal);
    private long _inFlight;

    /// <summary>Requests being answered now.</summary>
    public long InFlight => Interlocked.Read(ref _inFlight);

    /// <summary>A request starts; dispose the result when it has been answered.</summary>
    public IDisposable Track()
    {
        Interlocked.Increment(ref _inFlight);
        return new InFlightScope(this);
    }

    /// <summary>Records one answered request.</summary>
    public void Request(string endpoint, int status, string profile, string strength, double seconds)
    {
        var labels = Labels(("endpoint", endpoint), ("code", status.ToString(CultureInfo.InvariantCulture)), ("profile", profile), ("strength", strength));
        var steering = Labels(("endpoint", endpoint), ("profile", profile), ("strength", strength));
        lock (_lock)
        {
            _requests[labels] = _requests.GetValueOrDefault(labels) + 1;
            Observe(_latency, steering, seconds);
        }
    }

    /// <summary>Records the tokens one generation read and wrote.</summary>
    public void Tokens(string profile, string strength, int prompt, int completion)
    {
        var labels = Labels(("profile", profile), ("strength", strength));
        lock (_lock)
        {
            _promptTokens[labels] = _promptTokens.GetValueOrDefault(labels) + prompt;
            _completionTokens[labels] = _completionTokens.GetValueOrDefault(labels) + completion;
        }
    }

    /// <summary>Records how long a request waited for its first generated token.</summary>
    public void FirstToken(string profile, string strength, double seconds)
    {
        var labels = Labels(("profile", profile), ("strength", strength));
        lock (_lock) Observe(_firstToken, labels, seconds);
    }

    /// <summary>The exposition text.</summary>
    public string Render()
    {
        var text = new StringBuilder();
        lock (_lock)
        {
            Counter(text, "onnxsteer_requests_total", "Requests answered, by endpoint, HTTP status, profile and strength bucket.", _requests);
            Counter(text, "onnxsteer_prompt_tokens_total", "Prompt tokens read (tokens in).", _promptTokens);
            Counter(text, "onnxsteer_completion_tokens_total", "Tokens generated (tokens out).", _completionTokens);
            HistogramFamily(text, "onnxsteer_request_duration_seconds", "Time from request to the end of the answer.", _latency);
            HistogramFamily(text, "onnxsteer_time_to_first_token_seconds", "Time from request to the first generated token.", _firstToken);
        }
        text.Append("# HELP onnxsteer_requests_in_flight Requests being answered now.\n# TYPE onnxsteer_requests_in_flight gauge\n");
        text.Append("onnxsteer_requests_in_flight ").Append(InFlight.ToString(CultureInfo.InvariantCulture)).Append('\n');
        return text.ToString();
    }

    /// <summary>
    /// A strength's bucket: "0" (off), "1" (as profiled), "0-1", "1-2", "2+" for what lies between, "neg" for negative
    /// strengths. Several steps (composed steering) join their buckets with '+', in step order.
    /// </summary>
    public static string StrengthBucket(float strength) => strength switch
    {
        0f => "0",
        1f => "1",
        < 0f => "neg",
        < 1f => "0-1",
        < 2f => "1-2",
        _ => "2+",
    };

    private static void Observe(Dictionary<string, Histogram> family, string labels, double seconds)
    {
        if (!family.TryGetValue(labels, out var h)) family[labels] = h = new Histogram();
        h.Observe(seconds);
    }

    private static string Labels(params (string Name, string Value)[] labels) =>
        string.Join(",", labels.Select(l => $"{l.Name}=\"{Escape(l.Value)}\""));

    /// <summary>Label values escape backslash, double quote and newline (the exposition format's rule).</summary>
    private static string Escape(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    private static void Counter(StringBuilder text, string name, string help, Dictionary<string, long> series)
    {
        text.Append($"# HELP {name} {help}\n# TYPE {name} counter\n");
        foreach (var (labels, value) in series.OrderBy(s => s.Key, StringComparer.Ordinal))
            text.Append($"{name}{{{labels}}} {value.ToString(CultureInfo.InvariantCulture)}\n");
    }

    private static void HistogramFamily(StringBuilder text, string name, string help, Dictionary<string, Histogram> series)
    {
        text.Append($"# HELP {name} {help}\n# TYPE {name} histogram\n");
        foreach (var (labels, h) in series.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            long cumulative = 0;
            for (var i = 0; i < SecondsBuckets.Length; i++)
            {
                cumulative += h.Counts[i];
                text.Append($"{name}_bucket{{{labels},le=\"{Number(SecondsBuckets[i])}\"}} {cumulative.ToString(CultureInfo.InvariantCulture)}\n");
            }
            text.Append($"{name}_bucket{{{labels},le=\"+Inf\"}} {h.Count.ToString(CultureInfo.InvariantCulture)}\n");
            text.Append($"{name}_sum{{{labels}}} {Number(h.Sum)}\n");
            text.Append($"{name}_count{{{labels}}} {h.Count.ToString(CultureInfo.InvariantCulture)}\n");
        }
    }

    private static string Number(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private sealed class Histogram
    {
        public long[] Counts { get; } = new long[SecondsBuckets.Length];
        public long Count { get; private set; }
        public double Sum { get; private set; }

        public void Observe(double seconds)
        {
            Count++;
            Sum += seconds;
            var i = Array.FindIndex(SecondsBuckets, b => seconds <= b);
            if (i >= 0) Counts[i]++;
        }
    }

    private sealed class InFlightScope(ServerMetrics owner) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) Interlocked.Decrement(ref owner._inFlight);
        }
    }
}
