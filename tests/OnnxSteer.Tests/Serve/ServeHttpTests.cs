using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxSteer.Server;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Serve;

/// <summary>
/// The server over plain HTTP: answers equal in-process greedy generation of the same steering setting token for token,
/// also under many concurrent clients at different strengths; streaming, stop strings, usage; bad input is one 400 with an
/// OpenAI-style error object and one log line.
/// </summary>
[Collection(ServeCollection.Name)]
public sealed class ServeHttpTests(ServeFixture f)
{
    private const string Prompt = "Once upon a time, there was a little";

    private static JsonObject Body(string model, string prompt, int maxTokens, string? profile = null, float? strength = null)
    {
        var body = new JsonObject { ["model"] = model, ["prompt"] = prompt, ["max_tokens"] = maxTokens, ["temperature"] = 0 };
        if (profile is not null)
        {
            var s = new JsonObject { ["profile"] = profile };
            if (strength is { } v) s["strength"] = v;
            body["steering"] = s;
        }
        return body;
    }

    private async Task<(HttpStatusCode Status, JsonNode Json)> Post(string path, string body)
    {
        using var response = await f.Http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    private static int[] Ids(JsonNode json) => json["choices"]![0]!["token_ids"]!.AsArray().Select(n => n!.GetValue<int>()).ToArray();

    [SharedFact]
    public async Task Models_lists_the_base_model_and_one_id_per_profile()
    {
        var json = JsonNode.Parse(await f.Http.GetStringAsync("v1/models"))!;
        var ids = json["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()).ToList();
        Assert.Equal([f.ModelId, $"{f.ModelId}:calm", $"{f.ModelId}:happy"], ids);
    }

    [SharedFact]
    public async Task Concurrent_clients_at_different_strengths_each_get_the_sequential_greedy_answer_of_their_setting()
    {
        SteeringChoice[] settings =
        [
            SteeringChoice.Vanilla, new("happy", 1f), new("happy", 0.5f), new("happy", 2f), new("calm", 1f), new("calm", -1f),
            new("calm", 0f), new("happy", 1.5f),
        ];
        const int maxTokens = 24;
        const int clients = 32;
        var jobs = Enumerable.Range(0, clients).Select(i => (Setting: settings[i % settings.Length], Prompt: i % 3 == 0 ? "Lily liked" : Prompt)).ToList();
        var answers = await Task.WhenAll(jobs.Select(async j =>
        {
            var (status, json) = await Post("v1/completions", Body(f.ModelId, j.Prompt, maxTokens, j.Setting.Profile, j.Setting.Profile is null ? null : j.Setting.Strength).ToJsonString());
            Assert.Equal(HttpStatusCode.OK, status);
            return json;
        }));
        var distinct = new HashSet<string>();
        for (var i = 0; i < clients; i++)
        {
            var (setting, prompt) = jobs[i];
            var expected = f.SequentialGreedy(prompt, setting, maxTokens);
            Assert.Equal(expected, Ids(answers[i]));
            var applied = answers[i]["steering"]!;
            Assert.Equal(setting.Profile, applied["profile"]?.GetValue<string>());
            Assert.Equal(setting.Profile is null ? 0f : setting.Strength, applied["strength"]!.GetValue<float>());
            Assert.Equal("genai", applied["engine"]!.GetValue<string>());
            if (prompt == Prompt) distinct.Add(string.Join(",", expected));
        }
        // The settings must really steer, or equality would prove nothing about isolation.
        Assert.True(distinct.Count >= 4, $"only {distinct.Count} distinct answers across {settings.Length} settings");
    }

    [SharedFact]
    public async Task A_completion_says_its_text_usage_and_finish_reason()
    {
        var (status, json) = await Post("v1/completions", Body(f.ModelId, Prompt, 12, "happy", 0.5f).ToJsonString());
        Assert.Equal(HttpStatusCode.OK, status);
        var ids = Ids(json);
        var promptIds = f.Tokenizer.EncodeToIds(Prompt);
        Assert.Equal(f.Tokenizer.Decode(promptIds.Concat(ids))[f.Tokenizer.Decode(promptIds).Length..], json["choices"]![0]!["text"]!.GetValue<string>());
        Assert.Equal(f.Tokenizer.EncodeToIds(Prompt).Count, json["usage"]!["prompt_tokens"]!.GetValue<int>());
        Assert.Equal(ids.Length, json["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal(ids.Length == 12 ? "length" : "stop", json["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Equal("text_completion", json["object"]!.GetValue<string>());
    }

    [SharedFact]
    public async Task Streaming_sends_the_same_text_in_pieces_then_usage_and_done()
    {
        var body = Body(f.ModelId, Prompt, 20, "calm", 0.7f);
        var (_, whole) = await Post("v1/completions", body.ToJsonString());
        body["stream"] = true;
        body["stream_options"] = new JsonObject { ["include_usage"] = true };
        using var response = await f.Http.PostAsync("v1/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.StartsWith("data: ", StringComparison.Ordinal) ? e[6..] : throw new Xunit.Sdk.XunitException($"not an SSE data line: {e}")).ToList();
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!).ToList();
        var text = string.Concat(chunks.Where(c => c["choices"]!.AsArray().Count > 0).Select(c => c["choices"]![0]!["text"]!.GetValue<string>()));
        Assert.Equal(whole["choices"]![0]!["text"]!.GetValue<string>(), text);
        Assert.True(chunks.Count > 3, $"{chunks.Count} chunks: the text did not stream");
        Assert.Equal(whole["usage"]!["completion_tokens"]!.GetValue<int>(), chunks[^1]["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal("genai", chunks[0]["steering"]!["engine"]!.GetValue<string>());
    }

    [SharedFact]
    public async Task A_stop_string_ends_the_text_before_it()
    {
        var (_, whole) = await Post("v1/completions", Body(f.ModelId, Prompt, 30).ToJsonString());
        var full = whole["choices"]![0]!["text"]!.GetValue<string>();
        var words = full.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(words.Length >= 4, full);
        var stop = " " + words[3];
        var body = Body(f.ModelId, Prompt, 30);
        body["stop"] = new JsonArray(stop, "zzzz-never");
        var (_, cut) = await Post("v1/completions", body.ToJsonString());
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], cut["choices"]![0]!["text"]!.GetValue<string>());
        Assert.Equal("stop", cut["choices"]![0]!["finish_reason"]!.GetValue<string>());
    }

    [SharedFact]
    public async Task A_chat_request_without_a_chat_template_continues_the_joined_messages()
    {
        var body = new JsonObject
        {
            ["model"] = f.ModelId, ["max_tokens"] = 10, ["temperature"] = 0,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = Prompt }),
        };
        var (status, json) = await Post("v1/chat/completions", body.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(f.SequentialGreedy(Prompt, SteeringChoice.Vanilla, 10), Ids(json));
        Assert.Equal("assistant", json["choices"]![0]!["message"]!["role"]!.GetValue<string>());
    }

    public static TheoryData<string, string, string?> BadRequests() => new()
    {
        { "v1/completions", "{\"model\": \"x\", \"prompt\": ", null },
        { "v1/completions", "[1, 2]", null },
        { "v1/completions", "{\"model\": \"MODEL\", \"prompt\": \"a\", \"steering\": {\"profile\": \"angry\"}}", "steering.profile" },
        { "v1/completions", "{\"model\": \"MODEL\", \"prompt\": \"a\", \"steering\": {\"profile\": \"happy\", \"strength\": 9}}", "steering.strength" },
        { "v1/completions", "{\"model\": \"MODEL\", \"prompt\": \"a\", \"steering\": {\"profile\": \"../../etc/passwd\"}}", "steering.profile" },
        { "v1/completions", "{\"model\": \"MODEL\", \"prompt\": \"a\", \"steering\": {\"file\": \"/tmp/x.json\"}}", "steering" },
        { "v1/completions", "{\"model\": \"MODEL\", \"prompt\": \"a\", \"max_tokens\": 100000}", "max_tokens" },
        { "v1/completions", "{\"model\": \"MODEL\", \"prompt\": \"a\", \"max_tokens\": 0}", "max_tokens" },
        { "v1/completions", "{\"model\": \"MODEL\", \"prompt\": \"a\", \"temperature\": -1}", "temperature" },
        { "v1/completions", "{\"model\": \"other\", \"prompt\": \"a\"}", "model" },
        { "v1/completions", "{\"model\": \"MODEL:angry\", \"prompt\": \"a\"}", "steering.profile" },
        { "v1/completions", "{\"model\": \"MODEL\"}", "prompt" },
        { "v1/chat/completions", "{\"model\": \"MODEL\", \"messages\": []}", "messages" },
        { "v1/completions", "{\"model\": \"MODEL\", \"prompt\": \"a\", \"n\": 3}", "n" },
        { "v1/completions", "{\"model\": \"MODEL\", \"prompt\": \"a\", \"stop\": [\"a\",\"b\",\"c\",\"d\",\"e\"]}", "stop" },
    };

    [SharedTheory]
    [MemberData(nameof(BadRequests))]
    public async Task Bad_input_is_a_400_with_an_error_object_and_one_log_line(string path, string body, string? param)
    {
        body = body.Replace("MODEL", f.ModelId);
        await AssertRejected(path, body, param);
    }

    private async Task AssertRejected(string path, string body, string? param)
    {
        var before = f.Log.Count;
        var (status, json) = await Post(path, body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = json["error"]!;
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.False(string.IsNullOrWhiteSpace(error["message"]!.GetValue<string>()));
        Assert.Equal(param, error["param"]?.GetValue<string>());
        // One log line for the refusal (other tests run in parallel on the same server, so count lines naming this 400).
        await Task.Delay(50);
        var lines = f.Log.Skip(before).Where(l => l.Contains(" 400 ", StringComparison.Ordinal) && l.Contains(error["message"]!.GetValue<string>(), StringComparison.Ordinal)).ToList();
        Assert.Single(lines);
        Assert.DoesNotContain('\n', lines[0]);
        // Nothing else affected: the next request is served.
        var (ok, _) = await Post("v1/completions", Body(f.ModelId, "Hi", 2).ToJsonString());
        Assert.Equal(HttpStatusCode.OK, ok);
    }

    [SharedFact]
    public async Task With_an_api_key_requests_without_it_get_401_and_with_it_200()
    {
        await using var server = await SteeringServer.StartAsync(new ServeOptions { Model = f.ModelFolder, Port = 0, ApiKey = "sk-test-123", Log = _ => { } });
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        var body = Body(server.ModelId, "Hi", 2).ToJsonString();
        using var bare = await http.PostAsync("v1/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, bare.StatusCode);
        Assert.Equal("invalid_api_key", JsonNode.Parse(await bare.Content.ReadAsStringAsync())!["error"]!["code"]!.GetValue<string>());
        http.DefaultRequestHeaders.Authorization = new("Bearer", "sk-test-123");
        using var keyed = await http.PostAsync("v1/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, keyed.StatusCode);
    }

    [SharedFact]
    public async Task Listening_beyond_loopback_without_an_api_key_is_refused()
    {
        var e = await Assert.ThrowsAsync<InvalidParameterException>(() => SteeringServer.StartAsync(new ServeOptions { Model = f.ModelFolder, Host = "0.0.0.0", Port = 0 }));
        Assert.Contains("API key", e.Message);
        Assert.Equal("host", e.ParamName);
        Assert.Equal("--host 0.0.0.0: listening beyond loopback needs an API key (--api-key or $ONNXSTEER_API_KEY)", ErrorReporter.Message(e));
    }
}
