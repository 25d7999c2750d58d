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
using OnnxSteer.ModelFiles;
using OnnxSteer.Runtime;
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
    private readonly RequestGuard _guard;
    private readonly ShutdownCoordinator _shutdown = new();
    private readonly AdmissionGate _gate;
    private readonly BatchScheduler? _batcher;
    private readonly int _maxPromptChars;

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
        _guard = new RequestGuard(options.ApiKey);
        _gate = new AdmissionGate(options.Admission.MaxConcurrent ?? DefaultMaxConcurrent(config),
            options.Admission.MaxQueue, options.Admission.QueueTimeout);
        _maxPromptChars = PromptBudget.MaxPromptChars(prompts.Tokenizer, _contextLength);
        if (options.MaxBatch is < 1 or > GenaiHost.MaxBatchRows)
            throw new InvalidParameterException(nameof(options.MaxBatch), $"MaxBatch {options.MaxBatch}: must be 1 (no batching) to {GenaiHost.MaxBatchRows}");
        if (options.MaxBatch > 1) _batcher = new BatchScheduler(_gate, options.MaxBatch, _shutdown.Enter, _shutdown.Cut);
    }

    /// <summary>The admission gate (tests hold its slots to make requests wait).</summary>
    internal AdmissionGate Gate => _gate;

    /// <summary>The batch scheduler; null when batching is off (<see cref="ServeOptions.MaxBatch"/> 1).</summary>
    internal BatchScheduler? Batcher => _batcher;

    /// <summary>Generations that answered two or more requests together so far, and how many requests they answered.</summary>
    public (long Batches, long Requests) Batched => _batcher is { } b ? (b.Batches, b.BatchedRows) : (0, 0);

    /// <summary>Generations that run at once (<see cref="AdmissionLimits.MaxConcurrent"/>, or the default from cores and memory).</summary>
    public int MaxConcurrent => _gate.MaxConcurrent;

    private static int DefaultMaxConcurrent(GenaiConfigFile config) =>
        AdmissionGate.DefaultMaxConcurrent(RuntimeSettings.UsableCpus, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, PromptBudget.BytesPerGeneration(config));

    /// <summary>Loads the model and profiles, patches what needs patching, and starts listening.</summary>
    public static async Task<SteeringServer> StartAsync(ServeOptions options, CancellationToken cancellationToken = default)
    {
        var log = options.Log ?? (line => Console.Error.WriteLine(line));
        var address = ParseHost(options.Host);
        if (!RequestGuard.IsLoopback(address) && string.IsNullOrEmpty(options.ApiKey))
            throw new InvalidParameterException("host", $"{Param("host")} {options.Host}: listening beyond loopback needs an API key ({Param("apiKey")} or ${ApiKeyVariable})");
        if (!Directory.Exists(options.Model) || GenaiConfigFile.TryRead(options.Model) is not { } config)
            throw new InvalidModelException($"{options.Model}: serve needs a model folder with a genai_config.json (e.g. from onnxsteer import)");
        foreach (var stale in ServeTempFolders.SweepStale()) log($"onnxsteer serve: removed {stale}, left by a server that is gone");

        // The port first: "address in use" before minutes of patching, and held while the profiles are patched.
        var reservation = PortReservation.Take(address, options.Port);
        SteeredModels models;
        try { models = SteeredModels.Prepare(options.Model, options.Profiles, log, options.Force); }
        catch
        {
            reservation.Dispose();
            throw;
        }
        SteeringRouter? router = null;
        try
        {
            var genai = new GenaiEngine(options.Model, models.Folders, composed: models.Composed,
                runtime: Runtime.RuntimeSettings.Default with { Notice = text => log(text.ToString()) });
            router = new SteeringRouter([genai]);
            var tokenizer = TokenizerLoader.Load(options.Tokenizer ?? options.Model);
            var prompts = new PromptBuilder(tokenizer, PromptBuilder.FolderHasChatTemplate(options.Model) ? genai.CreateChatTemplate() : null);
            var modelId = options.ModelId ?? new DirectoryInfo(options.Model).Name;

            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "onnxsteer", ContentRootPath = AppContext.BaseDirectory });
            builder.Logging.ClearProviders(); // the server writes its own one line per request
            // Kestrel waits longer than the drain deadline: the cut streams still get their error event and [DONE].
            builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout + CutGrace);
            builder.Services.Configure<ConsoleLifetimeOptions>(c => c.SuppressStatusMessages = true);
            if (!options.HandleSignals) builder.Services.AddSingleton<IHostLifetime, EmbeddedLifetime>();
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.Listen(address, reservation.Port, listen => listen.Use(KestrelRefusals.Wrap));
                k.Limits.MaxRequestBodySize = options.Limits.MaxBodyBytes; // past it Kestrel stops reading: 413, and the connection closes
                k.AddServerHeader = false;
            });
            var app = builder.Build();
            var server = new SteeringServer(app, router, models, prompts, options, modelId, config);
            server.Map(app);
            ReserveThreads(server.MaxConcurrent);
            app.Lifetime.ApplicationStopping.Register(() => server._shutdown.BeginStop(options.ShutdownTimeout));
            reservation.Dispose();
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            server.BaseAddress = new Uri(bound.EndsWith('/') ? bound : bound + "/");
            var steering = server._profileNames.Count == 0 ? "no profiles" : "profiles " + string.Join(", ", server._profileNames);
            log($"onnxsteer serve: {modelId} ({steering}; {server.MaxConcurrent} at once, {options.Admission.MaxQueue} queued, {RuntimeSettings.Default.IntraOpThreads} thread(s) each) listening on {server.BaseAddress}");
            return server;
        }
        catch
        {
            reservation.Dispose();
            router?.Dispose();
            models.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Each running generation blocks a thread-pool thread for the length of a step (a long prefill: seconds), and the
    /// pool adds threads slowly: without room beyond them, Kestrel's own work (accepting, reading bodies, writing
    /// chunks) waits behind the generators.
    /// </summary>
    private static void ReserveThreads(int generations)
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        var wanted = generations + 2 * RuntimeSettings.UsableCpus;
        if (workers < wanted) ThreadPool.SetMinThreads(wanted, io);
    }

    /// <summary>
    /// How long, past the drain deadline, cut streams have to write their last events before Kestrel drops them. Not
    /// more: with 30 s here, Kestrel reset some cut streams at once (measured with bench/serve-sigterm.sh and the
    /// Serve tests; the cause is not known), with 5 s none.
    /// </summary>
    private static readonly TimeSpan CutGrace = TimeSpan.FromSeconds(5);

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
        if (!IPAddress.TryParse(host, out var ip)) throw new InvalidParameterException("host", $"{Param("host")} {host}: give an IP address (or localhost)");
        // An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is the IPv4 address: listen there.
        return ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip;
    }

    private void Map(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            using var request = BeginRequest(context);
            try { await next(context).ConfigureAwait(false); }
            finally { EndRequest(context); }
        });
        app.Use(new ErrorObjects(_log, _guard).InvokeAsync);
        app.MapGet("/v1/models", ListModels);
        MapOperations(app);
        app.MapPost("/v1/completions", context => Complete(context, ApiKind.Completion));
        app.MapPost("/v1/chat/completions", context => Complete(context, ApiKind.Chat));
        app.MapFallback(ErrorObjects.NoRoute);
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
        CheckPromptLength(request);
        var promptIds = _prompts.Build(request);
        var sampling = Sampling(request, promptIds.Count);
        var engine = _router.For(steering);
        var exchange = new Exchange(request, steering, engine.Name, promptIds.Count);

        // The lease keeps the models alive until this generator is gone; the slot bounds generations at once.
        using var generation = _shutdown.Enter();
        using var cut = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _shutdown.Cut);
        // Greedy requests may share a generation with others of the same setting and length (BatchScheduler); a batch
        // holds one slot.
        using var row = _batcher is not null && engine is IBatchEngine batching && BatchScheduler.Batchable(sampling)
            ? await Admit(context, () => _batcher.EnterAsync(batching, steering, promptIds, sampling, cut.Token)).ConfigureAwait(false)
            : null;
        using var slot = row is null ? await Admit(context, () => _gate.EnterAsync(cut.Token)).ConfigureAwait(false) : null;
        cut.CancelAfter(_options.Admission.RequestTimeout);

        // The prompt's ids are the streamer's context: the text is decode(prompt + answer) minus decode(prompt), so the
        // first generated token keeps its leading space.
        var streamer = new TextStreamer(_prompts.Tokenizer, promptIds);
        var stops = new StopMatcher(request.Stop);
        var eos = _eos;
        var ids = new List<int>();
        var finish = "length";
        var ct = cut.Token;
        if (request.Stream) await StartStream(context.Response, exchange).ConfigureAwait(false);
        try
        {
            await foreach (var id in (row?.Read(ct) ?? Run(engine, promptIds, steering, sampling, ct)).ConfigureAwait(false))
            {
                if (ids.Count == 0) NoteFirstToken(context, steering);
                ids.Add(id);
                if (eos.Contains(id)) { finish = "stop"; break; }
                var piece = stops.Push(streamer.Push(id));
                if (request.Stream && piece.Length > 0) await WriteChunk(context.Response, exchange, piece, null, ct).ConfigureAwait(false);
                if (stops.Stopped) { finish = "stop"; break; }
            }
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            // Cut by the server (stopping, or past the request's deadline), not by the client: say so.
            var error = ApiErrors.Cut(_shutdown.Cut.IsCancellationRequested, ids.Count, _options.Admission.RequestTimeout);
            if (!request.Stream) throw error;
            await EndStreamWithError(context.Response, error).ConfigureAwait(false);
            _log($"onnxsteer serve: {error.Status} POST {LogText.Escape(context.Request.Path)} (stream): {error.Message}");
            return;
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
        _log($"onnxsteer serve: 200 POST {LogText.Escape(context.Request.Path)} steering={Describe(steering)} engine={engine.Name} " +
             $"tokens={promptIds.Count}+{ids.Count} finish={finish}{(row?.BatchSize > 1 ? $" batch={row.BatchSize}" : "")} {clock.ElapsedMilliseconds} ms");
    }

    /// <summary>A generation slot, or 429/503; a stop signal while queued is a 503 too.</summary>
    private static async Task<T> Admit<T>(HttpContext context, Func<Task<T>> enter)
    {
        try { return await enter().ConfigureAwait(false); }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested) { throw ApiErrors.Stopping(); }
    }

    /// <summary>A prompt whose text is longer than any prompt that fits the context is refused before it is tokenized.</summary>
    private void CheckPromptLength(ApiRequest request)
    {
        // Each completion prompt is its own sequence (token-id prompts are checked against the context once encoded).
        long chars = request.Kind == ApiKind.Chat ? request.Messages.Sum(m => (long)m.Content.Length) : request.Prompts.Max(p => (long)(p.Text?.Length ?? 0));
        if (chars > _maxPromptChars)
            throw ApiError.Bad($"the prompt has {chars} characters, more than fit the model's context of {_contextLength} tokens",
                request.Kind == ApiKind.Chat ? "messages" : "prompt", "context_length_exceeded");
    }

    /// <summary>The end of a stream the server cut: an error event (as OpenAI sends one) and [DONE].</summary>
    private static async Task EndStreamWithError(HttpResponse response, ApiError error)
    {
        using var patience = new CancellationTokenSource(CutGrace);
        try
        {
            await WriteEvent(response, w => ErrorObjects.WriteBody(w, error), patience.Token).ConfigureAwait(false);
            await response.WriteAsync("data: [DONE]\n\n", patience.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException) { } // the client is gone
    }

    /// <summary>The engine's tokens, each step on the thread pool so requests interleave.</summary>
    private static async IAsyncEnumerable<int> Run(IGenerationEngine engine, IReadOnlyList<int> promptIds, SteeringChoice steering,
        SamplingSettings sampling, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        // Not cancelled by ct once started: a step that has begun runs to its end, so the generator is never disposed
        // (nor its model freed) under a running step.
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
            throw ApiError.Bad($"model '{LogText.Escape(request.Model)}': this server serves '{ModelId}' (see /v1/models)", "model", "model_not_found");
        var steering = request.Steering;
        if (colon >= 0)
        {
            var named = request.Model[(colon + 1)..];
            if (steering.Steps is not null)
                throw ApiError.Bad($"model '{request.Model}' names profile '{named}' and steering composes several: name them in steering only", "model");
            if (steering.Profile is null) steering = new SteeringChoice(named, 1f);
            else if (steering.Profile != named)
                throw ApiError.Bad($"model '{LogText.Escape(request.Model)}' names profile '{LogText.Escape(named)}' but steering.profile is '{LogText.Escape(steering.Profile)}'", "steering.profile");
        }
        foreach (var p in steering.ProfileNames)
            if (!_options.Profiles.ContainsKey(p))
                throw ApiError.Bad($"unknown profile '{LogText.Escape(p)}'; this server has {(_profileNames.Count == 0 ? "none" : string.Join(", ", _profileNames))}",
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
            TopK = request.TopK,
            TopP = request.TopP,
            Seed = request.Seed,
        };
    }

    private async Task<byte[]> ReadBody(HttpRequest request)
    {
        var limit = _options.Limits.MaxBodyBytes;
        if (request.ContentLength > limit) throw ApiErrors.TooLarge(limit);
        var buffer = new MemoryStream();
        var chunk = new byte[16384];
        int read;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(request.HttpContext.RequestAborted);
        deadline.CancelAfter(_options.Admission.BodyTimeout);
        try
        {
            while ((read = await request.Body.ReadAsync(chunk, deadline.Token).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > limit) throw ApiErrors.TooLarge(limit);
                buffer.Write(chunk, 0, read);
            }
        }
        catch (OperationCanceledException) when (!request.HttpContext.RequestAborted.IsCancellationRequested)
        {
            throw ApiErrors.BodyTimeout(_options.Admission.BodyTimeout);
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
        using (var w = new Utf8JsonWriter(buffer, ErrorObjects.JsonOptions))
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
        using (var w = new Utf8JsonWriter(buffer, ErrorObjects.JsonOptions))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        response.StatusCode = status;
        response.ContentType = "application/json";
        await response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length)).ConfigureAwait(false);
    }

    /// <summary>Stops listening, lets in-flight requests finish (up to the shutdown timeout), then frees the models.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try { await _app.StopAsync().ConfigureAwait(false); }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            // Kestrel may have given up on handlers still running a step: the models go only after the last generator.
            if (await _shutdown.CloseAsync(GeneratorPatience).ConfigureAwait(false))
            {
                _router.Dispose();
                _models.Dispose();
            }
            else _log($"onnxsteer serve: {_shutdown.Active} generators did not stop; their models are left to the process's exit");
            _gate.Dispose();
            _shutdown.Dispose();
        }
    }

    private int _disposed;

    /// <summary>How long disposal waits for generators after cutting them (each stops at its next step).</summary>
    private static readonly TimeSpan GeneratorPatience = TimeSpan.FromSeconds(60);
}
