using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using OnnxSteer.Generation;
using OnnxSteer.Server;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Bench;

/// <summary>
/// Issue 32 item 4: what the server's batching (BatchScheduler) gains. Greedy requests of one steering setting with
/// prompts of one length — the requests it batches — sent by 1, 4, 16 and 64 concurrent clients to an in-process
/// server with batching off (<c>MaxBatch</c> 1: one genai generator per request) and on (up to 32 rows per generator),
/// against the same requests run one at a time through the same engine. Every answer must equal the sequential one.
/// </summary>
public static class ServeBatchBench
{
    private static readonly string[] Texts =
        ["Once upon a time there was", "Lily wanted to play with her", "The dog ran to the park and", "Tom had a big red ball and",
         "One day, a little bird saw", "The sun was shining and the", "Sam and his mom went to", "There was a big tree in"];

    public static async Task<int> Run(string modelDir, string profile, int requests, int maxTokens, int[] clientCounts, Report report)
    {
        PatchBench.EnsureProfile(modelDir, profile);
        var tokenizer = TokenizerLoader.Load(modelDir);
        var encoded = Texts.Select(t => tokenizer.EncodeToIds(t).ToArray()).ToArray();
        var length = encoded.Min(p => p.Length);
        var prompts = Enumerable.Range(0, requests).Select(i => encoded[i % encoded.Length][..length]).ToArray();
        var steering = new SteeringChoice("happy", 0.5f);
        var profiles = new Dictionary<string, string> { ["happy"] = profile };

        // Sequential: one request at a time through the server's engine, in this process (no HTTP).
        double sequentialSeconds;
        int[][] expected;
        using (var models = SteeredModels.Prepare(modelDir, profiles))
        using (var engine = new GenaiEngine(modelDir, models.Folders))
        {
            int[] One(int[] p) => [.. engine.Generate(p, steering, new SamplingSettings { MaxTokens = maxTokens }, default)];
            One(prompts[0]); // warm-up
            var clock = Stopwatch.StartNew();
            expected = [.. prompts.Select(One)];
            sequentialSeconds = clock.Elapsed.TotalSeconds;
        }
        var tokens = expected.Sum(e => e.Length);

        var rows = new List<string>();
        var changed = 0;
        var failed = 0;
        var results = new Dictionary<(int MaxBatch, int Clients), double>();
        long batches = 0, batchedRows = 0;
        foreach (var maxBatch in new[] { 1, GenaiHost.MaxBatchRows })
        {
            await using var server = await SteeringServer.StartAsync(new ServeOptions
            {
                Model = modelDir, Profiles = profiles, Port = 0, Log = _ => { }, MaxBatch = maxBatch,
                Admission = new AdmissionLimits { MaxQueue = 256, QueueTimeout = TimeSpan.FromMinutes(10), RequestTimeout = TimeSpan.FromMinutes(20) },
            });
            using var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromMinutes(20) };
            await Post(http, server.ModelId, prompts[0], maxTokens); // warm-up
            foreach (var clients in clientCounts)
            {
                var next = -1;
                var clock = Stopwatch.StartNew();
                var workers = Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
                {
                    int i;
                    while ((i = Interlocked.Increment(ref next)) < prompts.Length)
                    {
                        try
                        {
                            if (!(await Post(http, server.ModelId, prompts[i], maxTokens)).SequenceEqual(expected[i])) Interlocked.Increment(ref changed);
                        }
                        catch (Exception e) when (e is HttpRequestException or InvalidOperationException or TaskCanceledException)
                        {
                            Interlocked.Increment(ref failed);
                            Console.Error.WriteLine($"request {i} failed: {e.Message}");
                        }
                    }
                })).ToArray();
                await Task.WhenAll(workers);
                results[(maxBatch, clients)] = clock.Elapsed.TotalSeconds;
            }
            if (maxBatch > 1) (batches, batchedRows) = server.Batched;
        }
        foreach (var c in clientCounts)
        {
            double off = results[(1, c)], on = results[(GenaiHost.MaxBatchRows, c)];
            rows.Add($"| {c} | {F(tokens / off)} | {F(tokens / on)} | {F(off / on)}× | {F(sequentialSeconds / on)}× |");
        }

        var load = File.ReadAllText("/proc/loadavg").Split(' ');
        report.Line($"## Serve batching — one setting, equal-length greedy prompts ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, `{Path.GetFileName(modelDir)}`)");
        report.Line();
        report.Line($"{requests} greedy completion requests at `happy@0.5` (an adapter), {length}-token prompts (8 texts cut to one length), " +
                    $"up to {maxTokens} new tokens each ({tokens} tokens in all), sent by N concurrent clients to an in-process server " +
                    $"(default admission: {Environment.ProcessorCount} generations at once) with batching off (`MaxBatch` 1) and on (up to 32 rows); " +
                    $"sequential: the same requests one at a time through the same engine in-process, {F(tokens / sequentialSeconds)} tokens/s. One pass each.");
        report.Line();
        report.Line("| clients | tokens/s, batching off | tokens/s, batching on | on / off | on / sequential |");
        report.Line("|---|---|---|---|---|");
        foreach (var r in rows) report.Line(r);
        report.Line();
        report.Line($"Answers that differ from the sequential one, token for token: {changed}; failed requests: {failed}. Batches run: {batches} " +
                    $"({batchedRows} requests). Machine: {Environment.ProcessorCount} CPUs, load average {load[0]} {load[1]} {load[2]} at the end " +
                    "(run with nice -n -10 on the shared machine).");
        report.Line();
        return changed == 0 && failed == 0 ? 0 : 1;
    }

    private static async Task<int[]> Post(HttpClient http, string model, int[] prompt, int maxTokens)
    {
        var body = new JsonObject
        {
            ["model"] = model, ["prompt"] = new JsonArray([.. prompt.Select(i => JsonValue.Create(i))]), ["max_tokens"] = maxTokens,
            ["temperature"] = 0, ["steering"] = new JsonObject { ["profile"] = "happy", ["strength"] = 0.5 },
        };
        using var response = await http.PostAsync("v1/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{(int)response.StatusCode}: {text}");
        return [.. JsonNode.Parse(text)!["choices"]![0]!["token_ids"]!.AsArray().Select(n => n!.GetValue<int>())];
    }

    private static string F(double v) => v.ToString(v >= 100 ? "F0" : v >= 10 ? "F1" : "F2", CultureInfo.InvariantCulture);
}
