using System.CommandLine;
using OnnxSteer.Cli.Options;
using OnnxSteer.Server;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer serve MODEL [--profile NAME=PATH ...]</c>: an OpenAI-compatible server, steering chosen per request.</summary>
internal sealed class ServeCommand : CliCommand<ServeOptions>
{
    private readonly Argument<string> _model = new("model") { Description = "The base model folder (with genai_config.json, e.g. from onnxsteer import)." };
    private readonly Option<string[]> _profiles = new("--profile")
    {
        Description = "A steering setting requests may name: NAME=PATH, PATH a profile (.json) or control vector (.gguf), " +
                      "patched --switchable at start, or a folder already patched --switchable. Repeatable.",
        HelpName = "NAME=PATH",
        AllowMultipleArgumentsPerToken = false,
    };
    private readonly Option<string> _host = new("--host") { Description = "Address to listen on. Beyond loopback an API key is required.", DefaultValueFactory = _ => "127.0.0.1", HelpName = "ADDR" };
    private readonly Option<int> _port = new Option<int>("--port") { Description = "Port to listen on (0 = any free port; the address is printed).", DefaultValueFactory = _ => 8000, HelpName = "N" }.Within(0, 65535);
    private readonly Option<string?> _apiKey = new("--api-key") { Description = $"Bearer token every request must carry. Default: ${SteeringServer.ApiKeyVariable}.", HelpName = "KEY" };
    private readonly Option<string?> _modelId = new("--model-id") { Description = "The model id clients name (default: the model folder's name).", HelpName = "ID" };
    private readonly Option<string?> _tokenizer = CommonOptions.Tokenizer("tokenizer.json, a llama2.c tok*.bin, or a folder holding one. Default: the model's folder.");
    private readonly Option<int> _maxTokens = Count("--max-tokens-limit", "Largest max_tokens a request may ask for.", 1024);
    private readonly Option<int> _defaultMax = Count("--default-max-tokens", "max_tokens of a request that gives none.", 64);
    private readonly Option<float> _maxStrength = new Option<float>("--max-strength") { Description = "Largest |steering.strength| a request may ask for.", DefaultValueFactory = _ => 4f, HelpName = "S" }.FiniteAtLeastZero();
    private readonly Option<int> _maxBody = Count("--max-body-bytes", "Largest request body.", 1 << 20);
    private readonly Option<int?> _maxConcurrent = new Option<int?>("--max-concurrent") { Description = "Generations that run at once (default: one per CPU core, fewer when memory is short).", HelpName = "N" }.AtLeast(1);
    private readonly Option<int> _maxQueue = new Option<int>("--max-queue") { Description = "Requests that may wait for a generation slot; past them: 429.", DefaultValueFactory = _ => 64, HelpName = "N" }.AtLeast(0);
    private readonly Option<double> _queueTimeout = Seconds("--queue-timeout", "Seconds a request may wait for a slot; past them: 503.", 30);
    private readonly Option<double> _requestTimeout = Seconds("--request-timeout", "Seconds one request may generate before it is cut.", 300);
    private readonly Option<double> _shutdownTimeout = Seconds("--shutdown-timeout", "Seconds in-flight requests may run on after SIGTERM before they are cut.", 10, allowZero: true);
    private readonly Option<bool> _force = new("--force") { Description = "Apply a profile recorded on another model (fingerprint or dtype differ), with a warning, as patch --force does." };

    private static Option<int> Count(string name, string description, int defaultValue) =>
        new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue, HelpName = "N" }.AtLeast(1);

    private static Option<double> Seconds(string name, string description, double defaultValue, bool allowZero = false) =>
        new Option<double>(name) { Description = description, DefaultValueFactory = _ => defaultValue, HelpName = "SECONDS" }.Seconds(allowZero);

    protected override Command Declare() => Define("serve",
        "Serve MODEL over an OpenAI-compatible HTTP API (/v1/models, /v1/completions, /v1/chat/completions, streaming " +
        "with server-sent events) with the steering chosen per request: \"steering\": {\"profile\": NAME, \"strength\": S} " +
        "in the body (or model \"ID:NAME\"); no steering field = the vanilla model. Stops on SIGTERM or Ctrl+C, letting " +
        "in-flight requests finish. See docs/serve.md.",
        _model, _profiles, _host, _port, _apiKey, _modelId, _tokenizer, _maxTokens, _defaultMax, _maxStrength, _maxBody, _maxConcurrent, _maxQueue,
        _queueTimeout, _requestTimeout, _shutdownTimeout, _force);

    protected override ServeOptions Bind(ParseResult parse)
    {
        var key = parse.GetValue(_apiKey) ?? Environment.GetEnvironmentVariable(SteeringServer.ApiKeyVariable);
        return new ServeOptions
        {
            Model = parse.GetValue(_model)!,
            Profiles = NamedProfiles(parse.GetValue(_profiles) ?? []),
            Host = parse.GetValue(_host)!,
            Port = parse.GetValue(_port),
            ApiKey = string.IsNullOrEmpty(key) ? null : key,
            ModelId = parse.GetValue(_modelId),
            Tokenizer = parse.GetValue(_tokenizer),
            Limits = new ServeLimits
            {
                MaxTokens = parse.GetValue(_maxTokens), DefaultMaxTokens = parse.GetValue(_defaultMax),
                MaxStrength = parse.GetValue(_maxStrength), MaxBodyBytes = parse.GetValue(_maxBody),
            },
            Admission = new AdmissionLimits
            {
                MaxConcurrent = parse.GetValue(_maxConcurrent), MaxQueue = parse.GetValue(_maxQueue),
                QueueTimeout = TimeSpan.FromSeconds(parse.GetValue(_queueTimeout)), RequestTimeout = TimeSpan.FromSeconds(parse.GetValue(_requestTimeout)),
            },
            ShutdownTimeout = TimeSpan.FromSeconds(parse.GetValue(_shutdownTimeout)),
            HandleSignals = true,
            Force = parse.GetValue(_force),
        };
    }

    /// <summary>NAME=PATH pairs; a name given twice or an item without both halves is a usage error.</summary>
    private static Dictionary<string, string> NamedProfiles(IEnumerable<string> items)
    {
        var named = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            var eq = item.IndexOf('=');
            if (eq <= 0 || eq == item.Length - 1) throw new CommandLineException($"--profile {item}: expected NAME=PATH", ExitCodes.Usage);
            if (!named.TryAdd(item[..eq], item[(eq + 1)..])) throw new CommandLineException($"--profile {item[..eq]}: given twice", ExitCodes.Usage);
        }
        return named;
    }

    /// <summary>Serves until SIGTERM or Ctrl+C: the host's console lifetime turns either into a graceful stop.</summary>
    public override int Run(ServeOptions o, CommandIo io)
    {
        var server = SteeringServer.StartAsync(o).GetAwaiter().GetResult();
        try
        {
            server.WaitForShutdownAsync().GetAwaiter().GetResult();
        }
        finally
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        io.Error.WriteLine("onnxsteer serve: stopped");
        return ExitCodes.Success;
    }
}
