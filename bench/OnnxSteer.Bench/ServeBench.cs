using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using OnnxSteer.Generation;
using OnnxSteer.Server;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Bench;

/// <summary>
/// Issue 22: a bounded load run of <c>onnxsteer serve</c> on loopback. The server runs as its own process (its peak RSS
/// is read from /proc); 1, 4, 16 and 64 concurrent clients (or the counts given) send a fixed list of greedy completion requests with mixed
/// steering settings; the same requests run one at a time in this process, through the same engines without HTTP, are
/// the baseline. Every answer must equal the baseline's token for token, and no request may fail.
/// </summary>
public static class ServeBench
{
    private static readonly SteeringChoice[] Settings =
        [SteeringChoice.Vanilla, new("happy", 1f), new("happy", 0.5f), new("calm", 1f), new("calm", 2f), new("happy", -1f)];

    private static readonly string[] Prompts =
        ["Once upon a time", "Lily wanted to", "The dog ran to the park and", "Tom had a big red ball.", "One day, a little bird"];

    public static int Run(string cli, string modelDir, string work, int requests, int maxTokens, int rounds, int[] clientCounts, Report report)
    {
        var happy = Path.Combine(work, $"{Path.GetFileName(modelDir)}-happy.json"); // one per model: a profile fits its model only
        PatchBench.EnsureProfile(modelDir, happy);
        var calm = Path.Combine(work, $"{Path.GetFileName(modelDir)}-calm.json");
        if (!File.Exists(calm)) Steerer.Save(Steerer.Select(Steerer.Load(happy), k: 20, alpha: 4), calm);
        var profiles = new Dictionary<string, string> { ["happy"] = happy, ["calm"] = calm };
        var jobs = Enumerable.Range(0, requests).Select(i => (Prompt: Prompts[i % Prompts.Length], Setting: Settings[i % Settings.Length])).ToList();

        // Baseline: the same engines in-process, one request at a time. Rounds alternate a baseline pass with one server
        // pass per client count, so load drift on a shared machine hits both alike; ratios are per-round pairs.
        var tokenizer = TokenizerLoader.Load(modelDir);
        using var models = SteeredModels.Prepare(modelDir, profiles);
        using var router = new SteeringRouter([new GenaiEngine(modelDir, models.Folders)]);
        var expected = jobs.Select(j => Generate(router, tokenizer, j.Prompt, j.Setting, maxTokens)).ToList(); // also the warm-up
        var tokensPerPass = expected.Sum(e => e.Length);

        var baseline = new List<double>();
        var passes = clientCounts.ToDictionary(c => c, _ => new List<(double Seconds, double[] Latencies)>());
        var failures = 0;
        var changed = 0;
        long rss;
        var server = StartServer(cli, modelDir, profiles, out var address);
        try
        {
            using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(2) };
            var modelId = new DirectoryInfo(modelDir).Name;
            foreach (var (p, s) in jobs) Post(http, modelId, p, s, maxTokens).GetAwaiter().GetResult(); // warm-up: one whole pass
            for (var round = 0; round < rounds; round++)
            {
                var clock = Stopwatch.StartNew();
                foreach (var (p, s) in jobs) Generate(router, tokenizer, p, s, maxTokens);
                baseline.Add(clock.Elapsed.TotalSeconds);
                foreach (var clients in clientCounts)
                {
                    var latencies = new double[jobs.Count];
                    var next = -1;
                    clock.Restart();
                    var workers = Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
                    {
                        int i;
                        while ((i = Interlocked.Increment(ref next)) < jobs.Count)
                        {
                            var one = Stopwatch.StartNew();
                            try
                            {
                                var ids = await Post(http, modelId, jobs[i].Prompt, jobs[i].Setting, maxTokens);
                                latencies[i] = one.Elapsed.TotalMilliseconds;
                                if (!ids.SequenceEqual(expected[i])) Interlocked.Increment(ref changed);
                            }
                            catch (Exception e) when (e is HttpRequestException or InvalidOperationException or TaskCanceledException)
                            {
                                Interlocked.Increment(ref failures);
                                Console.Error.WriteLine($"request {i} failed: {e.Message}");
                            }
                        }
                    })).ToArray();
                    Task.WaitAll(workers);
                    passes[clients].Add((clock.Elapsed.TotalSeconds, latencies));
                }
            }
            rss = PeakRssKiB(server.Id);
        }
        finally
        {
            Stop(server);
        }
        var rows = clientCounts.Select(c =>
        {
            var seconds = Median(passes[c].Select(x => x.Seconds));
            var all = passes[c].SelectMany(x => x.Latencies).Order().ToArray();
            var ratios = passes[c].Select((x, r) => x.Seconds / baseline[r]).ToList();
            return $"| {c} | {F(jobs.Count / seconds)} | {F(tokensPerPass / seconds)} | {F(Percentile(all, 0.5))} ms | {F(Percentile(all, 0.99))} ms | " +
                   $"{F(seconds)} s | {F(Median(ratios))} ({F(ratios.Min())}–{F(ratios.Max())}) |";
        }).ToList();
        var baselineSeconds = Median(baseline);

        report.Line($"## Serve — `onnxsteer serve` under load on loopback ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC)");
        report.Line();
        report.Line($"Model: `{Path.GetFileName(modelDir)}` (`{modelDir}`), profiles happy (synthetic, k=100) and calm (re-selected k=20, alpha 4), " +
                    $"both patched `--switchable` by the server at start. {jobs.Count} greedy completion requests of up to {maxTokens} tokens, " +
                    $"steering cycling through {string.Join(", ", Settings.Select(Describe))} (all in genai: other strengths than 1 through adapters), " +
                    $"over {Prompts.Length} prompts. Clients share one HttpClient and take the next request as they finish one. Each request runs in its " +
                    "own genai generator (batch size 1): concurrent requests overlap on the cores, they are not batched (see the genai batch table below).");
        report.Line();
        report.Line($"Baseline: the same {jobs.Count} requests ({tokensPerPass} tokens) one at a time in-process through the same engines (no HTTP, no JSON): " +
                    $"median {F(baselineSeconds)} s per pass, {F(jobs.Count / baselineSeconds)} requests/s, {F(tokensPerPass / baselineSeconds)} tokens/s. " +
                    $"{rounds} rounds; each runs the baseline pass, then one server pass per client count; figures are medians over rounds, " +
                    "latency percentiles over all requests of all rounds, ratios per-round pairs (min–max in brackets).");
        report.Line();
        report.Line("| clients | requests/s | tokens/s | p50 latency | p99 latency | wall per pass | wall / in-process sequential |");
        report.Line("|---|---|---|---|---|---|---|");
        foreach (var r in rows) report.Line(r);
        report.Line();
        report.Line($"Failed requests: {failures}. Answers that differ from the in-process sequential answer, token for token: {changed}. " +
                    $"Peak RSS of the server process (VmHWM, all runs): {rss / 1024.0:F1} MiB. Machine: {Environment.ProcessorCount} CPUs, load average at the end {File.ReadAllText("/proc/loadavg").Split(' ')[0]}.");
        report.Line();
        GenaiBatchProbe.Run(modelDir, Prompts[0], Prompts[2], maxTokens, clientCounts, report);
        return failures == 0 && changed == 0 ? 0 : 1;
    }

    private static int[] Generate(SteeringRouter router, ITokenizer tokenizer, string prompt, SteeringChoice s, int maxTokens)
    {
        var ids = tokenizer.EncodeToIds(prompt);
        var eos = tokenizer.EosTokenId;
        var result = new List<int>();
        foreach (var id in router.For(s).Generate(ids, s, new SamplingSettings { MaxTokens = maxTokens }, default))
        {
            result.Add(id);
            if (id == eos) break;
        }
        return [.. result];
    }

    private static async Task<int[]> Post(HttpClient http, string model, string prompt, SteeringChoice s, int maxTokens)
    {
        var body = new JsonObject { ["model"] = model, ["prompt"] = prompt, ["max_tokens"] = maxTokens, ["temperature"] = 0 };
        if (s.Profile is not null) body["steering"] = new JsonObject { ["profile"] = s.Profile, ["strength"] = s.Strength };
        using var response = await http.PostAsync("v1/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!["choices"]![0]!["token_ids"]!.AsArray().Select(n => n!.GetValue<int>()).ToArray();
    }

    private static Process StartServer(string cli, string modelDir, Dictionary<string, string> profiles, out Uri address)
    {
        var parts = cli.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var psi = new ProcessStartInfo(parts[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in parts[1..]) psi.ArgumentList.Add(a);
        foreach (var a in new[] { "serve", modelDir, "--port", "0" }) psi.ArgumentList.Add(a);
        foreach (var (n, p) in profiles) { psi.ArgumentList.Add("--profile"); psi.ArgumentList.Add($"{n}={p}"); }
        var process = Process.Start(psi)!;
        var found = new TaskCompletionSource<Uri>();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) { found.TrySetException(new InvalidOperationException("the server exited before listening")); return; }
            var at = e.Data.IndexOf("listening on ", StringComparison.Ordinal);
            if (at >= 0) found.TrySetResult(new Uri(e.Data[(at + 13)..].Trim()));
            else if (!e.Data.Contains(" 200 POST ", StringComparison.Ordinal)) Console.Error.WriteLine("server: " + e.Data);
        };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        address = found.Task.WaitAsync(TimeSpan.FromMinutes(2)).GetAwaiter().GetResult();
        return process;
    }

    private static void Stop(Process server)
    {
        server.Kill(entireProcessTree: false); // SIGKILL; the graceful path has its own test
        server.WaitForExit();
        server.Dispose();
    }

    private static long PeakRssKiB(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    private static double Percentile(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    private static string F(double v) => v.ToString(v >= 100 ? "F0" : v >= 10 ? "F1" : "F2", CultureInfo.InvariantCulture);

    private static string Describe(SteeringChoice s) => s.Profile is null ? "vanilla" : $"{s.Profile}@{s.Strength.ToString(CultureInfo.InvariantCulture)}";
}
