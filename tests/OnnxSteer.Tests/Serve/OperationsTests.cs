using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using OnnxSteer.Server;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Serve;

/// <summary>
/// /health, /ready and /metrics, and request ids: probes answer without the API key; the metrics are valid Prometheus
/// text whose counters move by exactly what a request did (its status, steering bucket, tokens in and out, latency and
/// first-token histograms); a request's id comes back in its header and in its log line.
/// </summary>
[Collection(ServeCollection.Name)]
public sealed partial class OperationsTests(ServeFixture f)
{
    // A sample line: name{labels} value (the exposition format's, without timestamps).
    [GeneratedRegex("""^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.eE+-]+$|^[a-zA-Z_:][a-zA-Z0-9_:]*\{.*le="\+Inf".*\} [0-9]+$""")]
    private static partial Regex SampleLine();

    private async Task<Dictionary<string, double>> Scrape()
    {
        using var response = await f.Http.GetAsync("metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain; version=0.0.4", response.Content.Headers.ContentType!.ToString());
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal) || line.StartsWith("# TYPE ", StringComparison.Ordinal)) continue;
            Assert.Matches(SampleLine(), line);
            var space = line.LastIndexOf(' ');
            samples[line[..space]] = double.Parse(line[(space + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        }
        return samples;
    }

    private static double Delta(Dictionary<string, double> before, Dictionary<string, double> after, string series) =>
        after.GetValueOrDefault(series) - before.GetValueOrDefault(series);

    [SharedFact]
    public async Task Health_and_ready_answer_and_need_no_api_key()
    {
        var health = JsonNode.Parse(await f.Http.GetStringAsync("health"))!;
        Assert.Equal("ok", health["status"]!.GetValue<string>());
        var ready = JsonNode.Parse(await f.Http.GetStringAsync("ready"))!;
        Assert.Equal("ready", ready["status"]!.GetValue<string>());
        Assert.Equal(["calm", "happy"], ready["profiles"]!.AsArray().Select(p => p!.GetValue<string>()));

        await using var server = await SteeringServer.StartAsync(new ServeOptions { Model = f.ModelFolder, Port = 0, ApiKey = "sk-probe", Log = _ => { } });
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("ready")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("v1/models")).StatusCode);
    }

    [SharedFact]
    public async Task A_request_moves_its_counters_by_what_it_did_and_its_id_is_in_the_header_and_the_log()
    {
        var before = await Scrape();
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            Content = new StringContent(new JsonObject
            {
                ["model"] = f.ModelId, ["prompt"] = "Once upon a time", ["max_tokens"] = 5, ["temperature"] = 0,
                ["steering"] = new JsonObject { ["profile"] = "happy", ["strength"] = 0.5 },
            }.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Request-Id", "trace-42.a");
        using var response = await f.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("trace-42.a", response.Headers.GetValues("X-Request-Id").Single());
        var usage = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["usage"]!;
        using var bad = await f.Http.PostAsync("v1/completions", new StringContent("{\"model\": 3}", Encoding.UTF8, "application/json"));
        var after = await Scrape();

        const string steering = "endpoint=\"/v1/completions\",profile=\"happy\",strength=\"0-1\"";
        Assert.Equal(1, Delta(before, after, "onnxsteer_requests_total{endpoint=\"/v1/completions\",code=\"200\",profile=\"happy\",strength=\"0-1\"}"));
        Assert.Equal(1, Delta(before, after, "onnxsteer_requests_total{endpoint=\"/v1/completions\",code=\"400\",profile=\"\",strength=\"\"}"));
        Assert.Equal(usage["prompt_tokens"]!.GetValue<int>(), Delta(before, after, "onnxsteer_prompt_tokens_total{profile=\"happy\",strength=\"0-1\"}"));
        Assert.Equal(usage["completion_tokens"]!.GetValue<int>(), Delta(before, after, "onnxsteer_completion_tokens_total{profile=\"happy\",strength=\"0-1\"}"));
        Assert.Equal(1, Delta(before, after, $"onnxsteer_request_duration_seconds_count{{{steering}}}"));
        Assert.Equal(1, Delta(before, after, $"onnxsteer_request_duration_seconds_bucket{{{steering},le=\"+Inf\"}}"));
        Assert.Equal(1, Delta(before, after, "onnxsteer_time_to_first_token_seconds_count{profile=\"happy\",strength=\"0-1\"}"));
        Assert.True(after[$"onnxsteer_request_duration_seconds_sum{{{steering}}}"] > before.GetValueOrDefault($"onnxsteer_request_duration_seconds_sum{{{steering}}}"));
        Assert.Equal(1, after["onnxsteer_requests_in_flight"]); // the scrape itself
        // Buckets are cumulative: each at least the one before, the last equal to the count.
        var buckets = after.Where(s => s.Key.StartsWith($"onnxsteer_request_duration_seconds_bucket{{{steering}", StringComparison.Ordinal)).Select(s => s.Value).ToList();
        Assert.Equal(ServerMetrics.SecondsBuckets.Length + 1, buckets.Count);
        Assert.Equal(buckets.Order(), buckets);

        Assert.Contains(f.Log, l => l.StartsWith("onnxsteer serve: [trace-42.a] 200 POST /v1/completions", StringComparison.Ordinal));
        Assert.Contains(f.Log, l => Regex.IsMatch(l, @"^onnxsteer serve: \[[0-9a-f]{16}\] 400 POST /v1/completions"));
    }
}
