using OnnxSteer.Generation;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using OnnxSteer.Cli;
using OnnxSteer.Patching;
using OnnxSteer.Server;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.Serve;

/// <summary>
/// The server under fire (issue 35): text that rebuilds the output, hostile bodies and headers answered with the right
/// status and an OpenAI error object, request text escaped in logs, limits checked before work, admission (429/503
/// with Retry-After, a per-request deadline), a stop that cuts streams cleanly, stale temp folders swept, the port
/// bound first.
/// </summary>
[Collection(ServeCollection.Name)]
public sealed class ServeReliabilityTests(ServeFixture f)
{
    private const string Prompt = "Once upon a time, there was a little";

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private string Completion(string prompt, int maxTokens, bool stream = false, string? model = null) => new JsonObject
    {
        ["model"] = model ?? f.ModelId, ["prompt"] = prompt, ["max_tokens"] = maxTokens, ["temperature"] = 0, ["stream"] = stream,
    }.ToJsonString();

    private static List<string> Events(string sse) =>
        sse.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e.StartsWith("data: ", StringComparison.Ordinal) ? e[6..] : throw new Xunit.Sdk.XunitException($"not an SSE data line: {e}")).ToList();

    private static string StreamedText(IEnumerable<string> events, bool chat) => string.Concat(events.Where(e => e != "[DONE]")
        .Select(e => JsonNode.Parse(e)!).Where(c => c["choices"] is JsonArray { Count: > 0 })
        .Select(c => chat ? c["choices"]![0]!["delta"]!["content"]?.GetValue<string>() : c["choices"]![0]!["text"]!.GetValue<string>()));

    private static async Task AssertErrorObject(HttpResponseMessage response, HttpStatusCode status, string? code)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.False(string.IsNullOrWhiteSpace(error["message"]!.GetValue<string>()));
        Assert.NotNull(error["type"]);
        Assert.Equal(code, error["code"]?.GetValue<string>());
    }

    // ---- item 3: text = decode(prompt + answer) - decode(prompt), streamed and not, as `generate` prints it ----

    [SharedFact]
    public async Task Completion_text_keeps_the_leading_space_and_equals_what_generate_prints()
    {
        using var whole = await f.Http.PostAsync("v1/completions", Json(Completion(Prompt, 12)));
        var json = JsonNode.Parse(await whole.Content.ReadAsStringAsync())!;
        var text = json["choices"]![0]!["text"]!.GetValue<string>();
        var ids = json["choices"]![0]!["token_ids"]!.AsArray().Select(n => n!.GetValue<int>()).ToList();
        var promptIds = f.Tokenizer.EncodeToIds(Prompt);
        Assert.Equal(f.Tokenizer.Decode(promptIds.Concat(ids)), f.Tokenizer.Decode(promptIds) + text);
        Assert.StartsWith(" ", text); // " girl"/" boy": the space the old text dropped

        using var streamed = await f.Http.PostAsync("v1/completions", Json(Completion(Prompt, 12, stream: true)));
        Assert.Equal(text, StreamedText(Events(await streamed.Content.ReadAsStringAsync()), chat: false));

        var (code, stdout, err) = CliProcess.Run(null, "generate", f.ModelFolder, "--prompt", Prompt, "--max-new-tokens", "12", "--temperature", "0", "--json");
        Assert.True(code == 0, err);
        Assert.Equal(text, JsonNode.Parse(stdout)!["text"]!.GetValue<string>());
    }

    [SharedFact]
    public async Task Chat_content_keeps_the_leading_space_streamed_and_not()
    {
        var body = new JsonObject
        {
            ["model"] = f.ModelId, ["max_tokens"] = 10, ["temperature"] = 0,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = Prompt }),
        };
        using var whole = await f.Http.PostAsync("v1/chat/completions", Json(body.ToJsonString()));
        var json = JsonNode.Parse(await whole.Content.ReadAsStringAsync())!;
        var content = json["choices"]![0]!["message"]!["content"]!.GetValue<string>();
        var ids = json["choices"]![0]!["token_ids"]!.AsArray().Select(n => n!.GetValue<int>()).ToList();
        var promptIds = f.Tokenizer.EncodeToIds(Prompt);
        Assert.Equal(f.Tokenizer.Decode(promptIds.Concat(ids)), f.Tokenizer.Decode(promptIds) + content);
        Assert.StartsWith(" ", content);
        body["stream"] = true;
        using var streamed = await f.Http.PostAsync("v1/chat/completions", Json(body.ToJsonString()));
        Assert.Equal(content, StreamedText(Events(await streamed.Content.ReadAsStringAsync()), chat: true));
    }

    // ---- item 5 / issue 30: statuses and error objects ----

    [SharedFact]
    public async Task A_wrong_method_is_a_405_with_allow_and_an_unknown_path_a_404()
    {
        using var get = await f.Http.GetAsync("v1/completions");
        await AssertErrorObject(get, HttpStatusCode.MethodNotAllowed, "method_not_allowed");
        Assert.Equal(["POST"], get.Content.Headers.Allow);
        using var delete = await f.Http.DeleteAsync("v1/models");
        await AssertErrorObject(delete, HttpStatusCode.MethodNotAllowed, "method_not_allowed");
        Assert.Equal(["GET"], delete.Content.Headers.Allow);
        using var missing = await f.Http.GetAsync("v1/nothing");
        await AssertErrorObject(missing, HttpStatusCode.NotFound, "unknown_route");
    }

    [SharedFact]
    public async Task Json_text_is_not_escaped_beyond_what_json_needs()
    {
        var body = Completion("a", 2).Replace("\"prompt\"", "\"steering\": {\"profile\": \"it's\"}, \"prompt\"");
        using var response = await f.Http.PostAsync("v1/completions", Json(body));
        var raw = await response.Content.ReadAsStringAsync();
        Assert.Contains("unknown profile 'it's'", raw);
        Assert.DoesNotContain("\\u0027", raw);
    }

    public static TheoryData<string, byte[], string> HostileBodies() => new()
    {
        { "invalid UTF-8", [.. "{\"model\": \"M\", \"prompt\": \"a"u8, 0xC3, 0x28, .. "\"}"u8], "invalid_encoding" },
        { "lone surrogate", Encoding.ASCII.GetBytes("{\"model\": \"M\", \"prompt\": \"a\\ud800b\"}"), "invalid_encoding" },
        { "lone surrogate in a key", Encoding.ASCII.GetBytes("{\"model\": \"M\", \"prompt\": \"a\", \"\\udc00\": 1}"), "invalid_encoding" },
        { "duplicate key", Encoding.ASCII.GetBytes("{\"model\": \"M\", \"prompt\": \"a\", \"max_tokens\": 1, \"max_tokens\": 1000000}"), "duplicate_key" },
        { "duplicate nested key", Encoding.ASCII.GetBytes("{\"model\": \"M\", \"prompt\": \"a\", \"steering\": {\"profile\": \"happy\", \"profile\": \"calm\"}}"), "duplicate_key" },
    };

    [SharedTheory]
    [MemberData(nameof(HostileBodies))]
    public async Task Undecodable_strings_and_duplicate_keys_are_a_400(string what, byte[] body, string code)
    {
        _ = what;
        var text = Encoding.Latin1.GetString(body).Replace("\"M\"", $"\"{f.ModelId}\"");
        using var content = new ByteArrayContent(Encoding.Latin1.GetBytes(text));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await f.Http.PostAsync("v1/completions", content);
        await AssertErrorObject(response, HttpStatusCode.BadRequest, code);
    }

    [SharedFact]
    public async Task An_oversize_body_is_a_413_and_an_endless_one_is_not_read_to_its_end()
    {
        using var big = await f.Http.PostAsync("v1/completions", Json(Completion(new string('a', 100_000), 4)));
        await AssertErrorObject(big, HttpStatusCode.RequestEntityTooLarge, "body_too_large");
        Assert.True(big.Headers.ConnectionClose, "the connection stays open after a 413");

        // A chunked body that never ends: the answer comes, the connection closes, and the client could not push much.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, f.Server.BaseAddress.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
        var reading = ReadAll(stream);
        var chunk = Encoding.ASCII.GetBytes("4000\r\n" + new string(' ', 0x4000) + "\r\n");
        long sent = 0;
        try
        {
            while (!reading.IsCompleted && sent < 512L << 20)
            {
                await stream.WriteAsync(chunk);
                sent += chunk.Length;
            }
        }
        catch (IOException) { } // the server closed the connection: what it should do
        var answer = await reading.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.StartsWith("HTTP/1.1 413", answer);
        Assert.Contains("\"code\":\"body_too_large\"", answer);
        Assert.True(sent < 64L << 20, $"the client pushed {sent >> 20} MiB before the server stopped reading");
    }

    [SharedFact]
    public async Task A_body_that_trickles_is_a_408_with_an_error_object_and_the_connection_closes()
    {
        await using var server = await SteeringServer.StartAsync(new ServeOptions
        {
            Model = f.ModelFolder, Port = 0, Log = _ => { }, Admission = new AdmissionLimits { BodyTimeout = TimeSpan.FromMilliseconds(500) },
        });
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, server.BaseAddress.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\""));
        var answer = await ReadAll(stream).WaitAsync(TimeSpan.FromSeconds(30)); // ends: the server closed the connection
        Assert.StartsWith("HTTP/1.1 408", answer);
        Assert.Contains("\"code\":\"request_timeout\"", answer);
    }

    [SharedFact]
    public async Task Kestrels_own_refusals_carry_an_error_object_too()
    {
        var port = f.Server.BaseAddress.Port;
        async Task<string> Raw(string request)
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, port);
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
            return await ReadAll(stream).WaitAsync(TimeSpan.FromSeconds(30));
        }
        var big = await Raw($"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {new string('a', 40_000)}\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 431", big);
        Assert.Contains("\"code\":\"headers_too_large\"", big);
        Assert.Contains("Content-Type: application/json", big);
        var malformed = await Raw("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 400", malformed);
        Assert.Contains("\"code\":\"bad_request\"", malformed);
        var version = await Raw("GET /v1/models HTTP/7.0\r\nHost: 127.0.0.1\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 505", version);
        Assert.Contains("\"error\":{", version);
        // The server's own answers pass through untouched, on the same kind of connection.
        var models = await Raw("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", models);
        Assert.Contains("\"owned_by\":\"onnxsteer\"}]}", models);
    }

    [Fact]
    public void Only_an_empty_bodied_refusal_head_is_rewritten()
    {
        var refusal = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\nDate: x\r\n\r\n"u8;
        var rewritten = Encoding.ASCII.GetString(KestrelRefusals.Rewrite(refusal)!);
        var body = rewritten[(rewritten.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
        Assert.Contains($"\r\nContent-Length: {body.Length}\r\nContent-Type: application/json\r\n", rewritten);
        Assert.Equal("headers_too_large", JsonNode.Parse(body)!["error"]!["code"]!.GetValue<string>());
        Assert.Null(KestrelRefusals.Rewrite("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"u8));
        Assert.Null(KestrelRefusals.Rewrite("HTTP/1.1 400 Bad Request\r\nContent-Length: 12\r\n\r\n"u8));
        Assert.Null(KestrelRefusals.Rewrite("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\nmore"u8));
        Assert.Null(KestrelRefusals.Rewrite("data: {\"x\": 1}\n\n"u8));
    }

    private static async Task<string> ReadAll(NetworkStream stream)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(chunk)) > 0) buffer.Write(chunk, 0, read);
        }
        catch (IOException) { }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    [SharedFact]
    public async Task A_prompt_longer_than_any_that_fits_is_refused_before_it_is_tokenized()
    {
        using var response = await f.Http.PostAsync("v1/completions", Json(Completion(new string('a', 60_000), 4)));
        await AssertErrorObject(response, HttpStatusCode.BadRequest, "context_length_exceeded");
        Assert.Contains("60000 characters", JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!["message"]!.GetValue<string>());
    }

    // ---- item 4: who may drive it; log text escaped ----

    [SharedFact]
    public async Task Without_a_key_only_loopback_hosts_and_json_posts_are_answered()
    {
        using var foreign = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = Json(Completion("a", 2)) };
        foreign.Headers.Host = "attacker.example:8000";
        using var rebound = await f.Http.SendAsync(foreign);
        await AssertErrorObject(rebound, HttpStatusCode.BadRequest, "invalid_host");

        using var plain = await f.Http.PostAsync("v1/completions", new StringContent(Completion("a", 2), Encoding.UTF8, "text/plain"));
        await AssertErrorObject(plain, HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");

        foreach (var host in new[] { "localhost", $"localhost:{f.Server.BaseAddress.Port}", "127.0.0.1", "[::1]:1" })
        {
            using var ok = new HttpRequestMessage(HttpMethod.Get, "v1/models");
            ok.Headers.Host = host;
            using var models = await f.Http.SendAsync(ok);
            Assert.True(models.StatusCode == HttpStatusCode.OK, $"Host {host}: {models.StatusCode}");
        }
    }

    [SharedFact]
    public async Task Request_text_is_escaped_in_log_lines_and_error_messages()
    {
        var forged = "calm\nonnxsteer serve: 200 POST /v1/completions forged\u001b[31m";
        var body = new JsonObject { ["model"] = f.ModelId, ["prompt"] = "a", ["steering"] = new JsonObject { ["profile"] = forged } }.ToJsonString();
        var before = f.Log.Count;
        using var response = await f.Http.PostAsync("v1/completions", Json(body));
        var message = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!["message"]!.GetValue<string>();
        Assert.Contains("calm\\nonnxsteer serve", message);
        Assert.Contains("\\u001b[31m", message);
        await Task.Delay(50);
        var lines = f.Log.Skip(before).Where(l => l.Contains("forged", StringComparison.Ordinal)).ToList();
        Assert.Single(lines);
        Assert.DoesNotContain('\n', lines[0]);
        Assert.DoesNotContain('\u001b', lines[0]);

        using var path = await f.Http.GetAsync("v1/x%0Aonnxsteer%20serve:%20forged%1B");
        Assert.Equal(HttpStatusCode.NotFound, path.StatusCode);
        await Task.Delay(50);
        Assert.All(f.Log.Skip(before), l => Assert.DoesNotContain('\u001b', l));
        Assert.All(f.Log.Skip(before), l => Assert.DoesNotContain('\n', l));
    }

    [Fact]
    public void Log_text_escapes_controls_bidi_and_lone_surrogates_but_keeps_text()
    {
        Assert.Equal("it's fine – ünïcode 😀", LogText.Escape("it's fine – ünïcode 😀"));
        Assert.Equal(@"a\nb\r\tc\u001b[0m\\\u202e\ud800", LogText.Escape("a\nb\r\tc\u001b[0m\\\u202e\ud800"));
        Assert.Equal("abc…", LogText.Escape("abcdef", 3));
    }

    [SharedFact]
    public async Task With_a_key_401_says_www_authenticate_and_the_scheme_is_case_insensitive()
    {
        await using var server = await SteeringServer.StartAsync(new ServeOptions { Model = f.ModelFolder, Port = 0, ApiKey = "sk-test-123", Log = _ => { } });
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        var body = Completion("Hi", 2, model: server.ModelId);
        using var bare = await http.PostAsync("v1/completions", Json(body));
        await AssertErrorObject(bare, HttpStatusCode.Unauthorized, "invalid_api_key");
        Assert.Equal("Bearer", bare.Headers.WwwAuthenticate.Single().Scheme);
        foreach (var header in new[] { "bearer sk-test-123", "BEARER  sk-test-123" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = Json(body) };
            request.Headers.TryAddWithoutValidation("Authorization", header);
            request.Headers.Host = "server.example"; // with a key, any Host is fine
            using var keyed = await http.SendAsync(request);
            Assert.True(keyed.StatusCode == HttpStatusCode.OK, $"{header}: {keyed.StatusCode}");
        }
    }

    [SharedFact]
    public async Task A_chat_template_refusal_is_one_short_line()
    {
        await using var server = await SteeringServer.StartAsync(new ServeOptions { Model = SharedData.TinyGenaiModelDir, Port = 0, Log = _ => { } });
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        var body = new JsonObject
        {
            ["model"] = server.ModelId, ["max_tokens"] = 2,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "a" }, new JsonObject { ["role"] = "user", ["content"] = "b" }),
        };
        using var response = await http.PostAsync("v1/chat/completions", Json(body.ToJsonString()));
        await AssertErrorObject(response, HttpStatusCode.BadRequest, null);
        var message = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!["message"]!.GetValue<string>();
        Assert.StartsWith("the model's chat template refused these messages", message);
        Assert.True(message.Length < 400, $"{message.Length} characters: {message}");
    }

    // ---- item 2: admission ----

    [SharedFact]
    public async Task Past_the_running_and_queued_requests_the_server_answers_429_with_retry_after()
    {
        await using var server = await SteeringServer.StartAsync(new ServeOptions
        {
            Model = f.ModelFolder, Port = 0, Log = _ => { }, Limits = new ServeLimits { MaxTokens = 400 },
            Admission = new AdmissionLimits { MaxConcurrent = 1, MaxQueue = 1 },
            // Eight equal greedy requests would share one batch (one slot, docs/serve.md); this test fills the queue.
            MaxBatch = 1,
        });
        Assert.Equal(1, server.MaxConcurrent);
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            using var r = await http.PostAsync("v1/completions", Json(Completion(Prompt, 400, model: server.ModelId)));
            return (r.StatusCode, r.Headers.RetryAfter?.Delta, Body: await r.Content.ReadAsStringAsync());
        }));
        var refused = answers.Where(a => a.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.True(refused.Count >= 1, string.Join(", ", answers.Select(a => a.StatusCode)));
        Assert.True(answers.Count(a => a.StatusCode == HttpStatusCode.OK) >= 2, string.Join(", ", answers.Select(a => a.StatusCode)));
        Assert.All(answers, a => Assert.True(a.StatusCode is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, a.Body));
        Assert.All(refused, a => Assert.Equal(TimeSpan.FromSeconds(1), a.Delta));
        Assert.All(refused, a => Assert.Equal("queue_full", JsonNode.Parse(a.Body)!["error"]!["code"]!.GetValue<string>()));
    }

    [SharedFact]
    public async Task A_client_that_disconnects_frees_its_slot_for_the_next_request()
    {
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var server = await SteeringServer.StartAsync(new ServeOptions
        {
            Model = f.ModelFolder, Port = 0, Log = log.Enqueue, Limits = new ServeLimits { MaxTokens = 450 },
            Admission = new AdmissionLimits { MaxConcurrent = 1, MaxQueue = 0 },
        });
        int Ended() => log.Count(l => l.Contains("cut after", StringComparison.Ordinal) || l.Contains(" 200 POST", StringComparison.Ordinal));
        for (var i = 0; i < 3; i++)
        {
            using var http = new HttpClient { BaseAddress = server.BaseAddress };
            using (var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = Json(Completion(Prompt, 450, stream: true, model: server.ModelId)) },
                       HttpCompletionOption.ResponseHeadersRead))
            using (var reader = new StreamReader(await response.Content.ReadAsStreamAsync()))
                Assert.StartsWith("data: {", await reader.ReadLineAsync());
            http.Dispose(); // the connection goes: the server must cut the generation and give its one slot back
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (Ended() <= i && clock.Elapsed < TimeSpan.FromSeconds(20)) await Task.Delay(20);
        }
        Assert.Equal(3, Ended());
        using var next = new HttpClient { BaseAddress = server.BaseAddress };
        using var answer = await next.PostAsync("v1/completions", Json(Completion(Prompt, 4, model: server.ModelId)));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
    }

    [Fact]
    public async Task The_gate_runs_at_most_its_bound_queues_in_order_and_times_out_with_503()
    {
        using var gate = new AdmissionGate(2, 1, TimeSpan.FromMilliseconds(200));
        var a = await gate.EnterAsync(default);
        var b = await gate.EnterAsync(default);
        Assert.Equal(2, gate.Running);
        var queued = gate.EnterAsync(default);
        Assert.False(queued.IsCompleted);
        var full = await Assert.ThrowsAsync<ApiError>(() => gate.EnterAsync(default));
        Assert.Equal(429, full.Status);
        Assert.Equal(1, full.RetryAfterSeconds);
        a.Dispose();
        using (await queued) Assert.Equal(2, gate.Running);
        b.Dispose();
        using var c = await gate.EnterAsync(default);
        using var d = await gate.EnterAsync(default);
        var late = await Assert.ThrowsAsync<ApiError>(() => gate.EnterAsync(default));
        Assert.Equal(503, late.Status);
        Assert.Equal("queue_timeout", late.Code);
        Assert.InRange(AdmissionGate.DefaultMaxConcurrent(16, 8L << 30, 1L << 30), 4, 4);
        Assert.Equal(16, AdmissionGate.DefaultMaxConcurrent(16, 64L << 30, 1L << 30));
        Assert.Equal(1, AdmissionGate.DefaultMaxConcurrent(16, 1L << 30, 4L << 30));
    }

    [SharedFact]
    public async Task A_request_past_its_deadline_is_cut_a_stream_with_an_error_event_and_done()
    {
        await using var server = await SteeringServer.StartAsync(new ServeOptions
        {
            Model = f.ModelFolder, Port = 0, Log = _ => { }, Limits = new ServeLimits { MaxTokens = 400 },
            Admission = new AdmissionLimits { RequestTimeout = TimeSpan.FromMilliseconds(1) },
        });
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        using var streamed = await http.PostAsync("v1/completions", Json(Completion(Prompt, 400, stream: true, model: server.ModelId)));
        var events = Events(await streamed.Content.ReadAsStringAsync());
        Assert.Equal("[DONE]", events[^1]);
        Assert.Equal("deadline_exceeded", JsonNode.Parse(events[^2])!["error"]!["code"]!.GetValue<string>());
        using var whole = await http.PostAsync("v1/completions", Json(Completion(Prompt, 400, model: server.ModelId)));
        await AssertErrorObject(whole, HttpStatusCode.ServiceUnavailable, "deadline_exceeded");
    }

    [SharedFact]
    public async Task A_long_prompt_prefilled_in_chunks_gives_the_tokens_of_one_prefill()
    {
        var prompt = string.Join(" ", Enumerable.Repeat("Lily and Tom went to the park to play with a red ball.", 6));
        var ids = f.Tokenizer.EncodeToIds(prompt);
        Assert.True(ids.Count > 40);
        var sampling = new SamplingSettings { MaxTokens = 16 };
        using var whole = new GenaiEngine(f.ModelFolder, new Dictionary<string, string>()) { PrefillChunk = 4096 };
        using var chunked = new GenaiEngine(f.ModelFolder, new Dictionary<string, string>()) { PrefillChunk = 7 };
        var expected = whole.Generate(ids, SteeringChoice.Vanilla, sampling, default).ToList();
        Assert.Equal(expected, chunked.Generate(ids, SteeringChoice.Vanilla, sampling, default).ToList());
        Assert.Equal(f.SequentialGreedy(prompt, SteeringChoice.Vanilla, 16), expected);
        await Task.CompletedTask;
    }

    // ---- item 1: a stop that never frees a model under a generator ----

    [SharedFact]
    public async Task Stopping_with_streams_in_flight_ends_each_with_an_error_event_and_done_and_frees_the_models_after()
    {
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var server = await SteeringServer.StartAsync(new ServeOptions
        {
            Model = f.ModelFolder, Profiles = new Dictionary<string, string> { ["happy"] = f.ProfileFiles["happy"] }, Port = 0, Log = log.Enqueue,
            Limits = new ServeLimits { MaxTokens = 450 }, Admission = new AdmissionLimits { MaxConcurrent = 6 }, ShutdownTimeout = TimeSpan.Zero,
        });
        List<string> streams;
        await using (server)
        {
            using var http = new HttpClient { BaseAddress = server.BaseAddress };
            var readers = new List<(HttpResponseMessage Response, StreamReader Reader)>();
            for (var i = 0; i < 6; i++)
            {
                var body = JsonNode.Parse(Completion(Prompt, 450, stream: true, model: server.ModelId))!;
                if (i % 2 == 1) body["steering"] = new JsonObject { ["profile"] = "happy", ["strength"] = 0.5 };
                var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = Json(body.ToJsonString()) }, HttpCompletionOption.ResponseHeadersRead);
                var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                Assert.StartsWith("data: {", await reader.ReadLineAsync());
                readers.Add((response, reader));
            }
            var rest = readers.Select(r => r.Reader.ReadToEndAsync()).ToList();
            await server.DisposeAsync();
            streams = [.. await Task.WhenAll(rest)];
            foreach (var (response, reader) in readers) { reader.Dispose(); response.Dispose(); }
        }
        Assert.All(streams, s => Assert.EndsWith("data: [DONE]\n\n", s));
        var cut = streams.Count(s => s.Contains("\"code\":\"server_stopping\"", StringComparison.Ordinal));
        Assert.True(cut >= 1, "no stream was in flight when the server stopped: the test proves nothing");
        Assert.All(log, l => Assert.DoesNotContain(" 500 ", l));
        Assert.All(log, l => Assert.DoesNotContain("did not stop", l));
        // A stopped server refuses nothing half-way: a second dispose is harmless.
        await server.DisposeAsync();
    }

    // ---- items 6, 7 / issue 30: debris, start-up order, addresses ----

    [SharedFact]
    public async Task Start_sweeps_the_temp_folders_of_dead_servers_and_names_its_own_with_its_pid()
    {
        var dead = Path.Combine(Path.GetTempPath(), $"onnxsteer-serve-{DeadPid()}-profiles-test{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(dead, "happy"));
        File.WriteAllText(Path.Combine(dead, "happy", "model.onnx"), "x");
        var alive = Path.Combine(Path.GetTempPath(), $"onnxsteer-serve-1-profiles-test{Guid.NewGuid():N}"); // PID 1 runs, and started first
        Directory.CreateDirectory(alive);
        try
        {
            var log = new List<string>();
            await using var server = await SteeringServer.StartAsync(new ServeOptions { Model = f.ModelFolder, Port = 0, Log = l => { lock (log) log.Add(l); } });
            Assert.False(Directory.Exists(dead), "the folder of a dead server was left");
            Assert.True(Directory.Exists(alive), "the folder of a live process was swept");
            Assert.Contains(log, l => l.Contains(dead, StringComparison.Ordinal));
            Assert.NotEmpty(Directory.GetDirectories(Path.GetTempPath(), $"onnxsteer-serve-{Environment.ProcessId}-adapters-*"));
        }
        finally
        {
            if (Directory.Exists(dead)) Directory.Delete(dead, true);
            Directory.Delete(alive, true);
        }
        Assert.Equal(1234, ServeTempFolders.OwnerPid("onnxsteer-serve-1234-adapters-x"));
        Assert.Null(ServeTempFolders.OwnerPid("onnxsteer-serve-adapters-x"));
    }

    private static int DeadPid()
    {
        for (var pid = 4_000_000; ; pid--)
            if (!Directory.Exists($"/proc/{pid}")) return pid;
    }

    [SharedFact]
    public async Task A_port_in_use_is_refused_before_any_profile_is_patched()
    {
        var log = new List<string>();
        var e = await Assert.ThrowsAsync<OnnxSteerException>(() => SteeringServer.StartAsync(new ServeOptions
        {
            Model = f.ModelFolder, Profiles = new Dictionary<string, string> { ["happy"] = f.ProfileFiles["happy"] },
            Port = f.Server.BaseAddress.Port, Log = log.Add,
        }));
        Assert.Equal($"--port {f.Server.BaseAddress.Port}: 127.0.0.1:{f.Server.BaseAddress.Port} is already in use (another server is listening there)", ErrorReporter.Message(e));
        Assert.DoesNotContain(log, l => l.Contains("patched", StringComparison.Ordinal));
    }

    [SharedFact]
    public async Task An_ipv4_mapped_loopback_host_listens_on_ipv4_loopback_and_a_patched_folder_profile_gets_a_startup_line()
    {
        using var tmp = new TempDir();
        var patched = tmp["happy-patched"];
        Steerer.Patch(f.ModelFolder, f.ProfileFiles["happy"], patched, new PatchSettings { Switchable = true });
        var log = new List<string>();
        await using var server = await SteeringServer.StartAsync(new ServeOptions
        {
            Model = f.ModelFolder, Host = "::ffff:127.0.0.1", Port = 0, Log = log.Add,
            Profiles = new Dictionary<string, string> { ["happy"] = patched },
        });
        Assert.Equal("127.0.0.1", server.BaseAddress.Host);
        Assert.Contains($"profile 'happy': {patched} (a patched model folder, used as it is)", log);
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("v1/models")).StatusCode);
    }
}
