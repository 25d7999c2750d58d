using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Serve;

/// <summary><c>onnxsteer serve</c> as a process: it prints where it listens, and SIGTERM lets an in-flight stream finish before it exits 0.</summary>
[Collection(ServeCollection.Name)]
public sealed partial class ServeCommandTests(ServeFixture f)
{
    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    private const int SigTerm = 15;

    /// <summary>Starts <c>onnxsteer serve</c> on the fixture's model with profile happy on a free port, plus <paramref name="extra"/>.</summary>
    private (Process Process, StringBuilder Stderr, TaskCompletionSource<Uri> Listening) StartServe(params string[] extra)
    {
        var psi = CliProcess.StartInfo(new[] { "serve", f.ModelFolder, "--profile", $"happy={f.ProfileFiles["happy"]}", "--port", "0" }.Concat(extra));
        var process = Process.Start(psi)!;
        var stderr = new StringBuilder();
        var listening = new TaskCompletionSource<Uri>();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderr) stderr.AppendLine(e.Data);
            var at = e.Data.IndexOf("listening on ", StringComparison.Ordinal);
            if (at >= 0) listening.TrySetResult(new Uri(e.Data[(at + "listening on ".Length)..].Split(' ')[0]));
        };
        process.BeginErrorReadLine();
        return (process, stderr, listening);
    }

    [SharedFact]
    public async Task Sigterm_lets_the_in_flight_stream_finish_then_the_server_exits_0()
    {
        var (process, stderr, listening) = StartServe();
        using var running = process;
        try
        {
            var address = await listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
            using var http = new HttpClient { BaseAddress = address };
            var body = new JsonObject
            {
                ["model"] = new DirectoryInfo(f.ModelFolder).Name, ["prompt"] = "Once upon a time", ["max_tokens"] = 400, ["temperature"] = 0,
                ["stream"] = true, ["steering"] = new JsonObject { ["profile"] = "happy", ["strength"] = 0.5 },
            };
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var first = await reader.ReadLineAsync();
            Assert.StartsWith("data: {", first);

            Assert.Equal(0, Kill(process.Id, SigTerm));
            var rest = await reader.ReadToEndAsync();
            Assert.EndsWith("data: [DONE]\n\n", rest);
            Assert.Contains("\"finish_reason\":\"", rest);

            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(0, process.ExitCode);
            string log;
            lock (stderr) log = stderr.ToString();
            Assert.Contains("200 POST /v1/completions steering=happy@0.5 engine=genai", log);
            Assert.EndsWith("onnxsteer serve: stopped", log.TrimEnd());
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [SharedFact]
    public async Task Sigterm_with_streams_running_past_the_shutdown_window_cuts_them_cleanly_and_exits_0()
    {
        var (process, stderr, listening) = StartServe("--shutdown-timeout", "0", "--max-concurrent", "4", "--max-tokens-limit", "450");
        using var running = process;
        try
        {
            var address = await listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
            using var http = new HttpClient { BaseAddress = address };
            var readers = new List<StreamReader>();
            for (var i = 0; i < 4; i++)
            {
                var body = new JsonObject
                {
                    ["model"] = new DirectoryInfo(f.ModelFolder).Name, ["prompt"] = "Once upon a time", ["max_tokens"] = 450, ["temperature"] = 0,
                    ["stream"] = true, ["steering"] = new JsonObject { ["profile"] = "happy", ["strength"] = i * 0.5 },
                };
                var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") },
                    HttpCompletionOption.ResponseHeadersRead);
                var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                Assert.StartsWith("data: {", await reader.ReadLineAsync());
                readers.Add(reader);
            }
            Assert.Equal(0, Kill(process.Id, SigTerm));
            var rests = await Task.WhenAll(readers.Select(r => r.ReadToEndAsync())).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.All(rests, r => Assert.EndsWith("data: [DONE]\n\n", r));
            Assert.Contains(rests, r => r.Contains("\"code\":\"server_stopping\"", StringComparison.Ordinal));
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            string log;
            lock (stderr) log = stderr.ToString();
            Assert.True(process.ExitCode == 0, log);
            Assert.DoesNotContain(" 500 ", log);
            Assert.DoesNotContain("Exception", log);
            Assert.EndsWith("onnxsteer serve: stopped", log.TrimEnd());
            foreach (var r in readers) r.Dispose();
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [SharedFact]
    public void A_profile_without_a_name_is_a_usage_error_and_a_missing_file_is_bad_input()
    {
        var (code, _, err) = CliProcess.Run(null, "serve", f.ModelFolder, "--profile", "happy.json", "--port", "0");
        Assert.Equal(64, code);
        Assert.StartsWith("onnxsteer: error: --profile happy.json: expected NAME=PATH", err);
        (code, _, err) = CliProcess.Run(null, "serve", f.ModelFolder, "--profile", "x=/nonexistent/p.json", "--port", "0");
        Assert.Equal(3, code);
        Assert.StartsWith("onnxsteer: error: /nonexistent/p.json: no such profile file or model folder", err);
    }
}
