using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Bench;

/// <summary>
/// Issue 35: the memory of <c>onnxsteer serve</c> under a burst of long prompts. The server runs as its own process;
/// CLIENTS requests with prompts of about PROMPT_TOKENS tokens (and 8 new tokens each) arrive at once; its RSS is read
/// from /proc before the burst, every 20 ms during it (peak), and 3 s after the last answer. One row per server
/// configuration (e.g. the default admission bound, and <c>--max-concurrent CLIENTS</c>, which lets all run at once).
/// </summary>
public static class ServeMemoryBench
{
    public static int Run(string cli, string modelDir, int clients, int promptTokens, IReadOnlyList<(string Label, string[] Args)> configs, Report report)
    {
        var tokenizer = TokenizerLoader.Load(modelDir);
        var sentence = "Once upon a time there was a little girl who liked to play in the park with her dog. ";
        var builder = new StringBuilder();
        while (tokenizer.EncodeToIds(builder.ToString()).Count < promptTokens) builder.Append(sentence);
        var prompt = builder.ToString();
        var tokens = tokenizer.EncodeToIds(prompt).Count;
        var modelId = new DirectoryInfo(modelDir).Name;
        var rows = new List<string>();
        var failures = 0;
        foreach (var (label, args) in configs)
        {
            var server = Start(cli, modelDir, args, out var address, out var banner);
            try
            {
                using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(20) };
                Post(http, modelId, "Once upon a time", 2).GetAwaiter().GetResult(); // warm-up
                Thread.Sleep(1000);
                var before = RssKiB(server.Id, "VmRSS");
                long peak = before;
                using var stop = new CancellationTokenSource();
                var sampler = Task.Run(async () =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        peak = Math.Max(peak, RssKiB(server.Id, "VmRSS"));
                        try { await Task.Delay(20, stop.Token); } catch (OperationCanceledException) { }
                    }
                });
                var clock = Stopwatch.StartNew();
                var statuses = Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Post(http, modelId, prompt, 8))).GetAwaiter().GetResult();
                var wall = clock.Elapsed.TotalSeconds;
                Thread.Sleep(3000);
                stop.Cancel();
                sampler.GetAwaiter().GetResult();
                var after = RssKiB(server.Id, "VmRSS");
                peak = Math.Max(peak, RssKiB(server.Id, "VmHWM"));
                var ok = statuses.Count(s => s == 200);
                failures += clients - ok;
                var refused = string.Join(", ", statuses.Where(s => s != 200).GroupBy(s => s).Select(g => $"{g.Count()}×{g.Key}"));
                rows.Add($"| {label} | {banner} | {Mib(before)} | {Mib(peak)} | {Mib(after)} | {ok}/{clients}{(refused.Length > 0 ? $" ({refused})" : "")} | {wall:F1} s |");
            }
            finally
            {
                server.Kill(entireProcessTree: false);
                server.WaitForExit();
                server.Dispose();
            }
        }
        report.Line($"## Serve memory — {clients} concurrent prompts of {tokens} tokens ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC)");
        report.Line();
        report.Line($"Model: `{modelDir}` ({modelId}). {clients} greedy completion requests, each a {tokens}-token prompt and 8 new tokens, sent at once; " +
                    "RSS (VmRSS) of the server process before the burst (after one warm-up request), its peak (sampled every 20 ms, and VmHWM), and 3 s after the last answer.");
        report.Line();
        report.Line("| server | admission (start-up line) | RSS before | peak | after | answered | wall |");
        report.Line("|---|---|---|---|---|---|---|");
        foreach (var r in rows) report.Line(r);
        report.Line();
        report.Line($"Machine: {Environment.ProcessorCount} CPUs, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1L << 30)} GiB, load average at the end {File.ReadAllText("/proc/loadavg").Split(' ')[0]}.");
        report.Line();
        return failures == 0 ? 0 : 1;
    }

    private static async Task<int> Post(HttpClient http, string model, string prompt, int maxTokens)
    {
        var body = new JsonObject { ["model"] = model, ["prompt"] = prompt, ["max_tokens"] = maxTokens, ["temperature"] = 0 };
        using var response = await http.PostAsync("v1/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        await response.Content.ReadAsStringAsync();
        return (int)response.StatusCode;
    }

    private static Process Start(string cli, string modelDir, string[] args, out Uri address, out string banner)
    {
        var parts = cli.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var psi = new ProcessStartInfo(parts[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in parts[1..]) psi.ArgumentList.Add(a);
        foreach (var a in new[] { "serve", modelDir, "--port", "0", "--max-tokens-limit", "16" }.Concat(args)) psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        var found = new TaskCompletionSource<(Uri, string)>();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) { found.TrySetException(new InvalidOperationException("the server exited before listening")); return; }
            var at = e.Data.IndexOf("listening on ", StringComparison.Ordinal);
            if (at < 0) return;
            var open = e.Data.IndexOf('(');
            var close = e.Data.LastIndexOf(')', at);
            found.TrySetResult((new Uri(e.Data[(at + 13)..].Trim()), open >= 0 && close > open ? e.Data[(open + 1)..close] : ""));
        };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        (address, banner) = found.Task.WaitAsync(TimeSpan.FromMinutes(2)).GetAwaiter().GetResult();
        return process;
    }

    private static long RssKiB(int pid, string field)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (IOException) { return 0; }
    }

    private static string Mib(long kib) => $"{kib / 1024.0:F0} MiB";
}
