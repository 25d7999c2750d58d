using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using OnnxSteer.Generation;
using OnnxSteer.Server;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Serve;

/// <summary>
/// Issue 32 item 4: concurrent greedy requests of one steering setting and prompt length run as one onnxruntime-genai
/// batch, and every answer is the one the request gets alone, token for token; what would change an answer (another
/// length, sampling) runs alone.
/// </summary>
[Collection(ServeCollection.Name)]
public sealed class BatchingTests(ServeFixture f)
{
    private static readonly string[] Texts =
        ["Once upon a time there was", "Lily wanted to play with her", "The dog ran to the park and", "Tom had a big red ball and", "One day, a little bird saw"];

    /// <summary>The texts' ids cut to one length, so they differ but batch.</summary>
    private int[][] EqualLengthPrompts(int count)
    {
        var all = Texts.Take(count).Select(t => f.Tokenizer.EncodeToIds(t).ToArray()).ToArray();
        var length = all.Min(p => p.Length);
        return [.. all.Select(p => p[..length])];
    }

    [SharedFact]
    public void Genai_batch_rows_give_their_one_row_greedy_ids()
    {
        using var host = GenaiHost.Open(f.ModelFolder);
        var prompts = EqualLengthPrompts(4);
        var sampling = new SamplingSettings { MaxTokens = 24 };
        var alone = prompts.Select(p => host.Generate(p, sampling).ToArray()).ToArray();
        var steps = host.GenerateBatch(prompts, sampling).ToList();
        for (var r = 0; r < prompts.Length; r++)
        {
            // A row that stopped at its EOS is given filler ids after it: compare up to where it stopped alone.
            var row = steps.Select(s => s[r]).Take(alone[r].Length).ToArray();
            Assert.Equal(alone[r], row);
        }
        Assert.True(alone.Select(a => string.Join(",", a)).Distinct().Count() > 1, "the rows' answers should differ from one another");
        Assert.Throws<InvalidParameterException>(() => host.GenerateBatch([prompts[0], prompts[1][..^1]], sampling).ToList());
    }

    private static async Task<string> Post(HttpClient http, string model, object body)
    {
        var response = await http.PostAsJsonAsync("v1/completions", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        var choice = JsonNode.Parse(text)!["choices"]![0]!;
        return choice["text"]!.GetValue<string>() + "|" + choice["finish_reason"]!.GetValue<string>();
    }

    [SharedFact]
    public async Task Waiting_greedy_requests_of_one_setting_and_length_share_one_generation_and_get_their_own_answers()
    {
        var log = new ConcurrentQueue<string>();
        await using var server = await SteeringServer.StartAsync(new ServeOptions
        {
            Model = f.ModelFolder,
            Profiles = new Dictionary<string, string> { ["happy"] = f.ProfileFiles["happy"] },
            Port = 0,
            Log = log.Enqueue,
            Admission = new AdmissionLimits { MaxConcurrent = 1 },
        });
        using var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromMinutes(3) };
        var steering = new { profile = "happy", strength = 0.5 }; // through an adapter: one per generator, shared by the batch
        var prompts = EqualLengthPrompts(5);
        var bodies = prompts.Select((p, i) => (object)new { model = server.ModelId, prompt = p, max_tokens = 8 + 3 * i, temperature = 0, steering })
            .Append(new { model = server.ModelId, prompt = prompts[0][..^1], max_tokens = 12, temperature = 0, steering }) // another length: alone
            .Append(new { model = server.ModelId, prompt = prompts[1], max_tokens = 12, temperature = 0.8, seed = 3, steering }) // sampled: alone
            .ToArray();

        var alone = new List<string>();
        foreach (var body in bodies) alone.Add(await Post(http, server.ModelId, body));
        Assert.Equal(0, server.Batcher!.Batches);

        // Hold the one slot until every request waits, then let go: the first to get it takes its kind along.
        var slot = await server.Gate.EnterAsync(default);
        var together = bodies.Select(b => Post(http, server.ModelId, b)).ToArray();
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (server.Gate.Waiting < bodies.Length && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(bodies.Length, server.Gate.Waiting);
        slot.Dispose();
        var answers = await Task.WhenAll(together);

        Assert.Equal(alone, answers);
        Assert.Equal(1, server.Batcher.Batches);
        Assert.Equal(prompts.Length, server.Batcher.BatchedRows);
        Assert.Contains(log, l => l.Contains($"batch={prompts.Length}", StringComparison.Ordinal));
    }
}
