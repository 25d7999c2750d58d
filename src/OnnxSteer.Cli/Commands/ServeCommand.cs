using System.CommandLine;
using OnnxSteer.Server;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer serve MODEL [--profile NAME=PATH ...]</c>: an OpenAI-compatible server, steering chosen per request.</summary>
public sealed class ServeCommand : ICliCommand
{
    public Command Build()
    {
        var model = new Argument<string>("model") { Description = "The base model folder (with genai_config.json, e.g. from onnxsteer import)." };
        var profiles = new Option<string[]>("--profile")
        {
            Description = "A steering setting requests may name: NAME=PATH, PATH a profile (.json) or control vector (.gguf), " +
                          "patched --switchable at start, or a folder already patched --switchable. Repeatable.",
            HelpName = "NAME=PATH",
            AllowMultipleArgumentsPerToken = false,
        };
        var host = new Option<string>("--host") { Description = "Address to listen on. Beyond loopback an API key is required.", DefaultValueFactory = _ => "127.0.0.1", HelpName = "ADDR" };
        var port = new Option<int>("--port") { Description = "Port to listen on (0 = any free port; the address is printed).", DefaultValueFactory = _ => 8000, HelpName = "N" };
        var apiKey = new Option<string?>("--api-key") { Description = $"Bearer token every request must carry. Default: ${SteeringServer.ApiKeyVariable}.", HelpName = "KEY" };
        var modelId = new Option<string?>("--model-id") { Description = "The model id clients name (default: the model folder's name).", HelpName = "ID" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json, a llama2.c tok*.bin, or a folder holding one. Default: the model's folder.", HelpName = "PATH" };
        var maxTokens = new Option<int>("--max-tokens-limit") { Description = "Largest max_tokens a request may ask for.", DefaultValueFactory = _ => 1024, HelpName = "N" };
        var defaultMax = new Option<int>("--default-max-tokens") { Description = "max_tokens of a request that gives none.", DefaultValueFactory = _ => 64, HelpName = "N" };
        var maxStrength = new Option<float>("--max-strength") { Description = "Largest |steering.strength| a request may ask for.", DefaultValueFactory = _ => 4f, HelpName = "S" };
        var maxBody = new Option<int>("--max-body-bytes") { Description = "Largest request body.", DefaultValueFactory = _ => 1 << 20, HelpName = "N" };
        var maxConcurrent = new Option<int?>("--max-concurrent") { Description = "Generations that run at once (default: one per CPU core, fewer when memory is short).", HelpName = "N" };
        var maxQueue = new Option<int>("--max-queue") { Description = "Requests that may wait for a generation slot; past them: 429.", DefaultValueFactory = _ => 64, HelpName = "N" };
        var queueTimeout = new Option<double>("--queue-timeout") { Description = "Seconds a request may wait for a slot; past them: 503.", DefaultValueFactory = _ => 30, HelpName = "SECONDS" };
        var requestTimeout = new Option<double>("--request-timeout") { Description = "Seconds one request may generate before it is cut.", DefaultValueFactory = _ => 300, HelpName = "SECONDS" };
        var shutdownTimeout = new Option<double>("--shutdown-timeout") { Description = "Seconds in-flight requests may run on after SIGTERM before they are cut.", DefaultValueFactory = _ => 10, HelpName = "SECONDS" };

        var command = new Command("serve",
            "Serve MODEL over an OpenAI-compatible HTTP API (/v1/models, /v1/completions, /v1/chat/completions, streaming " +
            "with server-sent events) with the steering chosen per request: \"steering\": {\"profile\": NAME, \"strength\": S} " +
            "in the body (or model \"ID:NAME\"); no steering field = the vanilla model. Stops on SIGTERM or Ctrl+C, letting " +
            "in-flight requests finish. See docs/serve.md.");
        command.Arguments.Add(model);
        var force = new Option<bool>("--force") { Description = "Apply a profile recorded on another model (fingerprint or dtype differ), with a warning, as patch --force does." };
        foreach (var o in new Option[] { profiles, host, port, apiKey, modelId, tokenizer, maxTokens, defaultMax, maxStrength, maxBody, maxConcurrent, maxQueue, queueTimeout, requestTimeout, shutdownTimeout, force }) command.Options.Add(o);

        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var named = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var item in parse.GetValue(profiles) ?? [])
            {
                var eq = item.IndexOf('=');
                if (eq <= 0 || eq == item.Length - 1) throw new CommandLineException($"--profile {item}: expected NAME=PATH", ExitCodes.Usage);
                if (!named.TryAdd(item[..eq], item[(eq + 1)..])) throw new CommandLineException($"--profile {item[..eq]}: given twice", ExitCodes.Usage);
            }
            var limits = new ServeLimits
            {
                MaxTokens = Positive(parse.GetValue(maxTokens), "--max-tokens-limit"),
                DefaultMaxTokens = Positive(parse.GetValue(defaultMax), "--default-max-tokens"),
                MaxStrength = parse.GetValue(maxStrength) is var s && float.IsFinite(s) && s >= 0 ? s : throw new CommandLineException($"--max-strength {s.ToString(System.Globalization.CultureInfo.InvariantCulture)}: must be a finite number ≥ 0", ExitCodes.Usage),
                MaxBodyBytes = Positive(parse.GetValue(maxBody), "--max-body-bytes"),
            };
            var key = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable(SteeringServer.ApiKeyVariable);
            var options = new ServeOptions
            {
                Model = parse.GetValue(model)!,
                Profiles = named,
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port) is var p and >= 0 and <= 65535 ? p : throw new CommandLineException("--port must be in [0, 65535]", ExitCodes.Usage),
                ApiKey = string.IsNullOrEmpty(key) ? null : key,
                ModelId = parse.GetValue(modelId),
                Tokenizer = parse.GetValue(tokenizer),
                Limits = limits,
                Admission = new AdmissionLimits
                {
                    MaxConcurrent = parse.GetValue(maxConcurrent) is { } c ? Positive(c, "--max-concurrent") : null,
                    MaxQueue = parse.GetValue(maxQueue) is var q and >= 0 ? q : throw new CommandLineException("--max-queue must be at least 0", ExitCodes.Usage),
                    QueueTimeout = Seconds(parse.GetValue(queueTimeout), "--queue-timeout"),
                    RequestTimeout = Seconds(parse.GetValue(requestTimeout), "--request-timeout"),
                },
                ShutdownTimeout = Seconds(parse.GetValue(shutdownTimeout), "--shutdown-timeout", allowZero: true),
                HandleSignals = true,
                Force = parse.GetValue(force),
            };
            var server = SteeringServer.StartAsync(options).GetAwaiter().GetResult();
            try
            {
                // The host's console lifetime turns SIGTERM and Ctrl+C into a graceful stop.
                server.WaitForShutdownAsync().GetAwaiter().GetResult();
            }
            finally
            {
                server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            Console.Error.WriteLine("onnxsteer serve: stopped");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static TimeSpan Seconds(double value, string name, bool allowZero = false) =>
        double.IsFinite(value) && (value > 0 || (allowZero && value == 0)) && value <= 86400
            ? TimeSpan.FromSeconds(value)
            : throw new CommandLineException($"{name} must be a number of seconds in {(allowZero ? "[0" : "(0")}, 86400]", ExitCodes.Usage);

    private static int Positive(int value, string name) =>
        value > 0 ? value : throw new CommandLineException($"{name} must be at least 1", ExitCodes.Usage);
}
