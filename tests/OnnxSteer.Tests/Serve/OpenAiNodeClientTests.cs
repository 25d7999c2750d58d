using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json.Nodes;
using OnnxSteer.Server;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Serve;

/// <summary>
/// The server through the official npm <c>openai</c> package (7.55.0, installed by <c>make setup</c> into
/// .cache/npm/openai) run with node: tests/openai-js/client.mjs makes a completion, a steered completion, a chat, a
/// steered streamed chat, a refused request and a model listing, and the answers are checked here against in-process
/// greedy generation. Skipped, with the reason printed, only when node is absent.
/// </summary>
[Collection(ServeCollection.Name)]
public sealed class OpenAiNodeClientTests(ServeFixture f, ITestOutputHelper output)
{
    private const string Prompt = "Once upon a time, there was a little";
    private static string Package => Path.Combine(SharedData.RepoRoot, ".cache", "npm", "openai", "node_modules", "openai");
    private static string Script => Path.Combine(SharedData.RepoRoot, "tests", "openai-js", "client.mjs");

    private string Expected(SteeringChoice s) => f.SequentialGreedyText(Prompt, s, 12);

    [SharedFact]
    public async Task The_npm_openai_client_gets_vanilla_steered_streamed_and_error_answers()
    {
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Script, Package, new Uri(f.Server.BaseAddress, "v1").ToString(), f.ModelId }) psi.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(psi)!; }
        catch (Win32Exception)
        {
            output.WriteLine("SKIPPED: node is not on PATH");
            return;
        }
        Assert.True(Directory.Exists(Package), $"{Package} is absent: run make setup (it installs openai@7.55.0 with npm)");
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
            Assert.True(process.ExitCode == 0, $"node client failed: {await stderr}");
            var result = JsonNode.Parse(await stdout)!;

            Assert.Equal(Expected(SteeringChoice.Vanilla), result["completion"]!.GetValue<string>());
            Assert.Equal(12, result["completionTokens"]!.GetValue<int>());
            Assert.Null(result["completionSteering"]!["profile"]);
            Assert.Equal(Expected(new SteeringChoice("happy", 0.5f)), result["steered"]!.GetValue<string>());
            Assert.Equal("genai", result["steeredSteering"]!["engine"]!.GetValue<string>());
            Assert.Equal(Expected(SteeringChoice.Vanilla), result["chat"]!.GetValue<string>());
            Assert.Equal(Expected(new SteeringChoice("calm", 2f)), result["streamed"]!.GetValue<string>());
            Assert.True(result["chunks"]!.GetValue<int>() > 3);
            Assert.Equal(12, result["streamedTokens"]!.GetValue<int>());
            Assert.Equal(400, result["error"]!["status"]!.GetValue<int>());
            Assert.Contains("steering.strength", result["error"]!["message"]!.GetValue<string>());
            Assert.Equal([f.ModelId, $"{f.ModelId}:calm", $"{f.ModelId}:happy"], result["models"]!.AsArray().Select(m => m!.GetValue<string>()));
        }
    }
}
