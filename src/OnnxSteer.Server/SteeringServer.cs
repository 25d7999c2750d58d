using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OnnxSteer.Generation;
using OnnxSteer.Tokenizers;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Server;

/// <summary>
/// The OpenAI-compatible HTTP server of <c>onnxsteer serve</c>: <c>GET /v1/models</c>, <c>POST /v1/completions</c> and
/// <c>POST /v1/chat/completions</c>, streaming with server-sent events, steering chosen per request by the
/// <c>steering</c> field. Start with <see cref="StartAsync"/>; dispose (or a stop signal) stops it, letting in-flight
/// requests finish within <see cref="ServeOptions.ShutdownTimeout"/>.
/// </summary>
public sealed partial class SteeringServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly SteeringRouter _router;
    private readonly SteeredModels _models;
    private readonly PromptBuilder _prompts;
    private readonly ServeOptions _options;
    private readonly Action<string> _log;
    private readonly int _contextLength;
    private readonly IReadOnlyList<string> _profileNames;
    private readonly HashSet<int> _eos;

    /// <summary>The model id clients name.</summary>
    public string ModelId { get; }

    /// <summary>The address the server listens on, e.g. http://127.0.0.1:41234/ (the real port when 0 was asked for).</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The engines, in the order they are asked whether they serve a steering setting.</summary>
    public SteeringRouter Router => _router;

    private SteeringServer(WebApplication app, SteeringRouter router, SteeredModels models, PromptBuilder prompts, ServeOptions options,
        string modelId, GenaiConfigFile config)
    {
        _app = app;
        _router = router;
        _models = models;
        _prompts = prompts;
        _options = options;
        var log = options.Log ?? (line => Console.Error.WriteLine(line));
        _log = line => log(WithRequestId(line));
        ModelId = modelId;
        _contextLength = config.ContextLength ?? int.MaxValue;
        _eos = EosIds(config, prompts.Tokenizer);
        _profileNames = options.Profiles.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
    }

    /// <summary>Loads the model and profiles, patches what needs patching, and starts listening.</summary>
    public static async Task<SteeringServer> StartAsync(ServeOptions options, CancellationToken cancellationToken = default)
    {
        var log = options.Log ?? (line => Console.Error.WriteLine(line));
        var address = ParseHost(options.Host);
        if (!IPAddress.IsLoopback(address) && string.IsNullOrEmpty(options.ApiKey))
            throw new InvalidParameterException("host", $"{Param("host")} {options.Host}: listening beyond loopback needs an API key ({Param("apiKey")} or ${ApiKeyVariable})");
        if (!Directory.Exists(options.Model) || GenaiConfigFile.TryRead(options.Model) is not { } config)
            throw new InvalidModelException($"{options.Model}: serve needs a model folder with a genai_config.json (e.g. from onnxsteer import)");

        var models = SteeredModels.Prepare(options.Model, options.Profiles, log);
        SteeringRouter? router = null;
        try
        {
            var genai = new GenaiEngine(options.Model, models.Folders, composed: models.Composed);
            router = new SteeringRouter([genai]);
            var tokenizer = TokenizerLoader.Load(options.Tokenizer ?? options.Model);
            var prompts = new PromptBuilder(tokenizer, PromptBuilder.FolderHasChatTemplate(options.Model) ? genai.CreateChatTemplate() : null);
            var modelId = options.ModelId ?? new DirectoryInfo(options.Model).Name;

            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "onnxsteer", ContentRootPath = AppContext.BaseDirectory });
            builder.Logging.ClearProviders(); // the server writes its own one line per request
            builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
            builder.Services.Configure<ConsoleLifetimeOptions>(c => c.SuppressStatusMessages = true);
            if (!options.HandleSignals) builder.Services.AddSingleton<IHostLifetime, EmbeddedLifetime>();
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.Listen(address, options.Port);
                k.Limits.MaxRequestBodySize = null; // the server reads bodies itself, up to its own limit, to answer 400
                k.AddServerHeader = false;
            });
            var app = builder.Build();
            var server = new SteeringServer(app, router, models, prompts, options, modelId, config);
            server.Map(app);
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            server.BaseAddress = new Uri(bound.EndsWith('/') ? bound : bound + "/");
            var steering = server._profileNames.Count == 0 ? "no profiles" : "profiles " + string.Join(", ", server._profileNames);
            log($"onnxsteer serve: {modelId} ({steering}) listening on {server.BaseAddress}");
            return server;
        }
        catch
        {
            router?.Dispose();
            models.Dispose();
            throw;
        }
    }

    /// <summary>The environment variable that supplies the API key when --api-key is not given.</summary>
    public const string ApiKeyVariable = "ONNXSTEER_API_KEY";

    /// <summary>Completes when the server has stopped (a stop signal, or <see cref="DisposeAsync"/>).</summary>
    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    /// <summary>A host lifetime that leaves the process's signals alone (the embedding process owns them).</summary>
    private sealed class EmbeddedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private static IPAddress ParseHost(string host)
    {
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) return IPAddress.Loopback;
        return IPAddress.TryParse(host, out var ip) ? ip : throw new InvalidParameterException("host", $"{Param("host")} {host}: give an IP address (or localhost)");
    }

    private void Map(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            var clock = Stopwatch.StartNew();
            using var request = BeginRequest(context);
            try
            {
                Authorize(context.Request);
                await next(context).ConfigureAwait(false);
            }
            catch (ApiError e)
            {
                _log($"onnxsteer serve: {e.Status} {context.Request.Method} {context.Request.Path}: {e.Message}");
                if (!context.Response.HasStarted) await WriteError(context.Response, e).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                _log($"onnxsteer serve: {context.Request.Method} {context.Request.Path}: cut after {clock.ElapsedMilliseconds} ms (client gone or server stopping)");
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _log($"onnxsteer serve: 500 {context.Request.Method} {context.Request.Path}: {e.GetType().Name}: {e.Message}");
                if (!context.Response.HasStarted)
                    await WriteError(context.Response, new ApiError(500, $"generation failed: {e.Message}", type: "server_error")).ConfigureAwait(false);
            }
            finally
            {
                EndRequest(context);
            }
        });
        app.MapGet("/v1/models", ListModels);
        MapOperations(app);
        app.MapPost("/v1/completions", context => Complete(context, ApiKind.Completion));
        app.MapPost("/v1/chat/completions", context => Complete(context, ApiKind.Chat));
        app.MapFallback(context => throw new ApiError(404, $"no route {context.Request.Method} {context.Request.Path}", code: "unknown_route"));
    }

    private void Authorize(HttpRequest request)
    {
        if (string.IsNullOrEmpty(_options.ApiKey) || IsProbe(request.Path)) return;
        var header = request.Headers.Authorization.ToString();
        var given = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..] : "";
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(_options.ApiKey)))
            throw new ApiError(401, "missing or incorrect API key (Authorization: Bearer KEY)", code: "invalid_api_key");
    }

    private async Task ListModels(HttpContext context)
    {
        await WriteJson(context.Response, 200, w =>
        {
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            foreach (var id in new[] { ModelId }.Concat(_profileNames.Select(p => $"{ModelId}:{p}")))
            {
                w.WriteStartObject();
                w.WriteString("id", id);
                w.WriteString("object", "model");
                w.WriteNumber("created", 0);
                w.WriteString("owned_by", "onnxsteer");
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }).ConfigureAwait(false);
    }

    private async Task Complete(HttpContext context, ApiKind kind)
    {
        var clock = Stopwatch.StartNew();
        var body = await ReadBody(context.Request).ConfigureAwait(false);
        var request = ApiRequest.Parse(body, kind, _options.Limits);
        if (IsScored(request)) { await CompleteScored(context, request, clock).ConfigureAwait(false); return; }
        var steering = ResolveSteering(request);
        NoteSteering(context, steering);
        var promptIds = _prompts.Build(request);
        var sampling = Sampling(request, promptIds.Count);
        var engine = _router.For(steering);
        var exchange = new Exchange(request, steering, engine.Name, promptIds.Count);

        var streamer = new TextStreamer(_prompts.Tokenizer);
        var stops = new StopMatcher(request.Stop);
        var eos = _eos;
        var ids = new List<int>();
        var finish = "length";
        var ct = context.RequestAborted;
        if (request.Stream) await StartStream(context.Response, exchange).ConfigureAwait(false);
        await foreach (var id in Run(engine, promptIds, steering, sampling, ct).ConfigureAwait(false))
        {
            if (ids.Count == 0) NoteFirstToken(context, steering);
            ids.Add(id);
            if (eos.Contains(id)) { finish = "stop"; break; }
            var piece = stops.Push(streamer.Push(id));
            if (request.Stream && piece.Length > 0) await WriteChunk(context.Response, exchange, piece, null, ct).ConfigureAwait(false);
            if (stops.Stopped) { finish = "stop"; break; }
        }
        var tail = stops.Flush();
        exchange.CompletionTokens = ids.Count;
        NoteTokens(steering, promptIds.Count, ids.Count);
        if (request.Stream)
        {
            if (tail.Length > 0) await WriteChunk(context.Response, exchange, tail, null, ct).ConfigureAwait(false);
            await WriteChunk(context.Response, exchange, null, finish, ct).ConfigureAwait(false);
            if (request.IncludeUsage) await WriteUsageChunk(context.Response, exchange, ct).ConfigureAwait(false);
            await context.Response.WriteAsync("data: [DONE]\n\n", ct).ConfigureAwait(false);
        }
        else
        {
            await WriteCompletion(context.Response, exchange, stops.Text, finish, ids).ConfigureAwait(false);
        }
        _log($"onnxsteer serve: 200 POST {context.Request.Path} steering={Describe(steering)} engine={engine.Name} " +
             $"tokens={promptIds.Count}+{ids.Count} finish={finish} {clock.ElapsedMilliseconds} ms");
    }

    /// <summary>The engine's tokens, each step on the thread pool so requests interleave.</summary>
    private static async IAsyncEnumerable<int> Run(IGenerationEngine engine, IReadOnlyList<int> promptIds, SteeringChoice steering,
        SamplingSettings sampling, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var enumerator = engine.Generate(promptIds, steering, sampling, ct).GetEnumerator();
        try
        {
            while (await Task.Run(enumerator.MoveNext, ct).ConfigureAwait(false)) yield return enumerator.Current;
        }
        finally
        {
            enumerator.Dispose();
        }
    }

    /// <summary>Stop tokens: genai_config.json's (what genai stops at), else the tokenizer's EOS.</summary>
    private static HashSet<int> EosIds(GenaiConfigFile config, ITokenizer tokenizer) =>
        config.EosTokenIds.Count > 0 ? [.. config.EosTokenIds] : tokenizer.EosTokenId is { } e ? [e] : [];

    private SteeringChoice ResolveSteering(ApiRequest request)
    {
        var colon = request.Model.IndexOf(':');
        var baseId = colon < 0 ? request.Model : request.Model[..colon];
        if (!string.Equals(baseId, ModelId, StringComparison.Ordinal))
            throw ApiError.Bad($"model '{request.Model}': this server serves '{ModelId}' (see /v1/models)", "model", "model_not_found");
        var steering = request.Steering;
        if (colon >= 0)
        {
            var named = request.Model[(colon + 1)..];
            if (steering.Steps is not null)
                throw ApiError.Bad($"model '{request.Model}' names profile '{named}' and steering composes several: name them in steering only", "model");
            if (steering.Profile is null) steering = new SteeringChoice(named, 1f);
            else if (steering.Profile != named)
                throw ApiError.Bad($"model '{request.Model}' names profile '{named}' but steering.profile is '{steering.Profile}'", "steering.profile");
        }
        foreach (var p in steering.ProfileNames)
            if (!_options.Profiles.ContainsKey(p))
                throw ApiError.Bad($"unknown profile '{p}'; this server has {(_profileNames.Count == 0 ? "none" : string.Join(", ", _profileNames))}",
                    "steering.profile", "profile_not_found");
        return ComposedOrder(steering);
    }

    private SamplingSettings Sampling(ApiRequest request, int promptTokens)
    {
        var room = _contextLength - promptTokens;
        if (room <= 0) throw ApiError.Bad($"the prompt has {promptTokens} tokens; the model's context is {_contextLength}", request.Kind == ApiKind.Chat ? "messages" : "prompt", "context_length_exceeded");
        if (request.MaxTokens > room)
            throw ApiError.Bad($"max_tokens {request.MaxTokens}: the prompt leaves room for {room} in the model's context of {_contextLength}", "max_tokens", "context_length_exceeded");
        return new SamplingSettings
        {
            MaxTokens = request.MaxTokens ?? Math.Min(_options.Limits.DefaultMaxTokens, room),
            Temperature = request.Temperature,
            TopP = request.TopP,
            Seed = request.Seed,
        };
    }

    private async Task<byte[]> ReadBody(HttpRequest request)
    {
        var limit = _options.Limits.MaxBodyBytes;
        if (request.ContentLength > limit) throw ApiError.Bad($"the body is {request.ContentLength} bytes; this server takes at most {limit}", code: "body_too_large");
        var buffer = new MemoryStream();
        var chunk = new byte[16384];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit) throw ApiError.Bad($"the body exceeds {limit} bytes, the most this server takes", code: "body_too_large");
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    private static string Describe(SteeringChoice s) => s.Label;

    /// <summary>What one request is answered with, besides the text.</summary>
    private sealed class Exchange(ApiRequest request, SteeringChoice steering, string engine, int promptTokens)
    {
        public ApiRequest Request { get; } = request;
        public SteeringChoice Steering { get; } = steering;
        public string Engine { get; } = engine;
        public int PromptTokens { get; } = promptTokens;
        public int CompletionTokens { get; set; }
        public string Id { get; } = (request.Kind == ApiKind.Chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        public bool RoleSent { get; set; }
    }

    private static void WriteHead(Utf8JsonWriter w, Exchange x, string objectName)
    {
        w.WriteString("id", x.Id);
        w.WriteString("object", objectName);
        w.WriteNumber("created", x.Created);
        w.WriteString("model", x.Request.Model);
        WriteSteering(w, x);
    }

    /// <summary>The steering applied, and which engine applied it.</summary>
    private static void WriteSteering(Utf8JsonWriter w, Exchange x)
    {
        w.WriteStartObject("steering");
        if (x.Steering.Steps is not null) WriteSteps(w, x.Steering);
        else if (x.Steering.Profile is { } p)
        {
            w.WriteString("profile", p);
            w.WriteNumber("strength", x.Steering.Strength);
        }
        else
        {
            w.WriteNull("profile");
            w.WriteNumber("strength", 0);
        }
        w.WriteString("engine", x.Engine);
        w.WriteEndObject();
    }

    private static void WriteUsage(Utf8JsonWriter w, Exchange x)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", x.PromptTokens);
        w.WriteNumber("completion_tokens", x.CompletionTokens);
        w.WriteNumber("total_tokens", x.PromptTokens + x.CompletionTokens);
        w.WriteEndObject();
    }

    private static Task WriteCompletion(HttpResponse response, Exchange x, string text, string finish, IReadOnlyList<int> ids) =>
        WriteJson(response, 200, w =>
        {
            var chat = x.Request.Kind == ApiKind.Chat;
            WriteHead(w, x, chat ? "chat.completion" : "text_completion");
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            if (chat)
            {
                w.WriteStartObject("message");
                w.WriteString("role", "assistant");
                w.WriteString("content", text);
                w.WriteEndObject();
            }
            else
            {
                w.WriteString("text", text);
            }
            w.WriteNull("logprobs");
            w.WriteString("finish_reason", finish);
            w.WriteStartArray("token_ids"); // an extension: the generated ids, for exact comparisons
            foreach (var id in ids) w.WriteNumberValue(id);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            WriteUsage(w, x);
        });

    private static async Task StartStream(HttpResponse response, Exchange x)
    {
        response.StatusCode = 200;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        await response.StartAsync().ConfigureAwait(false);
    }

    /// <summary>One SSE chunk: a text piece, or (with <paramref name="finish"/>) the closing chunk.</summary>
    private static Task WriteChunk(HttpResponse response, Exchange x, string? piece, string? finish, CancellationToken ct) =>
        WriteEvent(response, w =>
        {
            var chat = x.Request.Kind == ApiKind.Chat;
            WriteHead(w, x, chat ? "chat.completion.chunk" : "text_completion");
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            if (chat)
            {
                w.WriteStartObject("delta");
                if (!x.RoleSent) { w.WriteString("role", "assistant"); x.RoleSent = true; }
                if (piece is not null) w.WriteString("content", piece);
                w.WriteEndObject();
            }
            else
            {
                w.WriteString("text", piece ?? "");
            }
            w.WriteNull("logprobs");
            if (finish is null) w.WriteNull("finish_reason"); else w.WriteString("finish_reason", finish);
            w.WriteEndObject();
            w.WriteEndArray();
            if (x.Request.IncludeUsage) w.WriteNull("usage");
        }, ct);

    private static Task WriteUsageChunk(HttpResponse response, Exchange x, CancellationToken ct) =>
        WriteEvent(response, w =>
        {
            WriteHead(w, x, x.Request.Kind == ApiKind.Chat ? "chat.completion.chunk" : "text_completion");
            w.WriteStartArray("choices");
            w.WriteEndArray();
            WriteUsage(w, x);
        }, ct);

    private static async Task WriteEvent(HttpResponse response, Action<Utf8JsonWriter> body, CancellationToken ct)
    {
        var buffer = new MemoryStream();
        buffer.Write("data: "u8);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        buffer.Write("\n\n"u8);
        await response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), ct).ConfigureAwait(false);
        await response.Body.FlushAsync(ct).ConfigureAwait(false);
    }

    private static async Task WriteJson(HttpResponse response, int status, Action<Utf8JsonWriter> body)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        response.StatusCode = status;
        response.ContentType = "application/json";
        await response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length)).ConfigureAwait(false);
    }

    private static Task WriteError(HttpResponse response, ApiError e) =>
        WriteJson(response, e.Status, w =>
        {
            w.WriteStartObject("error");
            w.WriteString("message", e.Message);
            w.WriteString("type", e.Type);
            if (e.Param is null) w.WriteNull("param"); else w.WriteString("param", e.Param);
            if (e.Code is null) w.WriteNull("code"); else w.WriteString("code", e.Code);
            w.WriteEndObject();
        });

    /// <summary>Stops listening, lets in-flight requests finish (up to the shutdown timeout), then frees the models.</summary>
    public async ValueTask DisposeAsync()
    {
        try { await _app.StopAsync().ConfigureAwait(false); }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            _router.Dispose();
            _models.Dispose();
        }
    }
}
