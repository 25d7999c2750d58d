using System.CommandLine;
using System.Text;
using System.Text.Json;
using OnnxSteer.Cli.Hosts;
using OnnxSteer.Diffing;
using OnnxSteer.Generation;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer generate MODEL --prompt TEXT [...]</c>: generate a continuation, streamed to stdout or as JSON.</summary>
public sealed class GenerateCommand : ICliCommand
{
    /// <summary>The JSON schema id of <c>--json</c> output.</summary>
    public const string JsonSchema = "onnxsteer.generate/1";

    public Command Build()
    {
        var model = new Argument<string>("model")
        {
            Description = "The model: a folder (its genai_config.json names the .onnx file, else model.onnx) or a .onnx file.",
        };
        var prompt = new Option<string>("--prompt") { Description = "The text to continue.", Required = true, HelpName = "TEXT" };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Stop after this many new tokens.", DefaultValueFactory = _ => 64, HelpName = "N" };
        var temperature = new Option<float?>("--temperature")
        {
            Description = "Sampling temperature; 0 = greedy (the default). Giving --top-k, --top-p or --seed alone samples at 1.",
            HelpName = "T",
        };
        var topK = new Option<int>("--top-k") { Description = "Sample among the K most likely tokens (0 = all).", HelpName = "K" };
        var topP = new Option<float>("--top-p") { Description = "Sample among the most likely tokens holding probability P (nucleus; 1 = all).", DefaultValueFactory = _ => 1f, HelpName = "P" };
        var seed = new Option<int?>("--seed") { Description = "Random seed, for repeatable sampling.", HelpName = "S" };
        var tokenizer = new Option<string?>("--tokenizer")
        {
            Description = "tokenizer.json, a llama2.c tok*.bin, or a folder holding one. Default: the model's folder.",
            HelpName = "PATH",
        };
        var json = new Option<bool>("--json") { Description = $"Print one JSON object ({JsonSchema}: prompt ids, generated ids, text, stop reason) instead of streaming text." };
        var showGates = new Option<bool>("--show-gates")
        {
            Description = "For a 'patch --dynamic' model: after the text, print each steered site's gate (0 = not steered, 1 = full " +
                          "steering) at every token of the prompt and the continuation (with --json: a \"gates\" object).",
        };
        var engine = new Option<string>("--engine")
        {
            Description = "What runs the model: onnxsteer (its own generation loop, the default) or genai (onnxruntime-genai, " +
                          "reading the folder's genai_config.json; CPU only; --strength goes in as an .onnx_adapter).",
            DefaultValueFactory = _ => "onnxsteer",
            HelpName = "onnxsteer|genai",
        };
        engine.AcceptOnlyFromAmong("onnxsteer", "genai");
        var runtime = new RuntimeOptions();

        var command = new Command("generate",
            "Generate a continuation of --prompt with the model's KV cache, greedy by default or sampled (--temperature, " +
            "--top-k, --top-p, --seed). Stops at the model's EOS token (genai_config.json, else the tokenizer's) or after " +
            "--max-new-tokens. Text streams to stdout as it is produced.");
        command.Arguments.Add(model);
        var strength = new StrengthOption();
        foreach (var o in new Option[] { prompt, maxNew, temperature, topK, topP, seed, tokenizer, json, strength.Option, engine, showGates }) command.Options.Add(o);
        runtime.AddTo(command);

        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var modelPath = parse.GetValue(model)!;
            ModelSniff.RefuseNonOnnx(modelPath);
            var tokenizerPath = parse.GetValue(tokenizer) ?? ModelFiles.ModelLocator.FolderOf(modelPath);
            var sampling = parse.GetValue(topK) > 0 || parse.GetValue(topP) < 1 || parse.GetValue(seed) is not null;
            var options = new GenerationOptions
            {
                MaxNewTokens = parse.GetValue(maxNew),
                Temperature = parse.GetValue(temperature) ?? (sampling ? 1f : 0f),
                TopK = parse.GetValue(topK),
                TopP = parse.GetValue(topP),
                Seed = parse.GetValue(seed),
            };
            options.Validate();

            var text = parse.GetValue(prompt)!;
            // The model opens first, so a wrong model path is reported as such rather than as a missing tokenizer.
            (ITokenizer, IReadOnlyList<int>) Encode()
            {
                var t = TokenizerLoader.Load(tokenizerPath);
                return (t, t.EncodeToIds(text));
            }
            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
            Console.CancelKeyPress += onCancel;
            try
            {
                if (parse.GetValue(engine) == "genai")
                {
                    if (parse.GetValue(runtime.Device) == "cuda")
                        throw new CommandLineException("--engine genai runs on the CPU here (no CUDA build of onnxruntime-genai is installed)", ExitCodes.Usage);
                    using var genai = GenaiHost.Open(modelPath, runtime.Read(parse));
                    var (tok, promptIds) = Encode();
                    using var adapter = parse.GetValue(strength.Option) is { } s ? TemporaryAdapter.ForStrength(modelPath, s) : null;
                    if (parse.GetValue(showGates)) throw new CommandLineException("--show-gates runs the model in onnxsteer's own engine; leave out --engine genai", ExitCodes.Usage);
                    var activate = adapter is null ? null : genai.UseAdapterFile(adapter.Path);
                    Print(text, promptIds, tok, parse.GetValue(json), (onToken, token) => genai.Collect(promptIds, options, activate, onToken, token), null, cts.Token);
                }
                else
                {
                    // Before generating: a model without gates fails now, not after the whole continuation was printed.
                    if (parse.GetValue(showGates)) GateTrace.RequireGates(modelPath);
                    using var decoder = DecoderModel.Open(modelPath, runtime.Read(parse));
                    using var strengthValue = strength.Apply(parse, decoder);
                    var (tok, promptIds) = Encode();
                    if (decoder.Layout.EosTokenIds.Count == 0 && tok.EosTokenId is { } eos) options = options with { EosTokenIds = [eos] };
                    var generator = new Generator(decoder);
                    GateValues? Gates(GenerationResult r) => parse.GetValue(showGates)
                        ? GateTrace.Run(modelPath, r.PromptIds.Concat(r.GeneratedIds).ToList(), runtime.Read(parse))
                        : null;
                    Print(text, promptIds, tok, parse.GetValue(json), (onToken, token) => generator.Generate(promptIds, options, onToken, token), Gates, cts.Token);
                }
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>Runs <paramref name="generate"/> and prints its text as it streams, or the --json document at the end.</summary>
    private static void Print(string prompt, IReadOnlyList<int> promptIds, ITokenizer tok, bool json,
        Func<Action<int>?, CancellationToken, GenerationResult> generate, Func<GenerationResult, GateValues?>? gatesOf, CancellationToken cancel)
    {
        if (json)
        {
            var result = generate(null, cancel);
            Console.Out.WriteLine(ToJson(prompt, result, TextStreamer.Continuation(tok, promptIds, result.GeneratedIds), gatesOf?.Invoke(result)));
            return;
        }
        var streamer = new TextStreamer(tok, promptIds);
        Console.Out.Write(prompt);
        var streamed = generate(id =>
        {
            Console.Out.Write(streamer.Push(id));
            Console.Out.Flush();
        }, cancel);
        Console.Out.WriteLine(streamer.Flush());
        if (gatesOf?.Invoke(streamed) is { } gates)
            Console.Out.Write(GateTable(gates, streamed.PromptIds.Concat(streamed.GeneratedIds).ToList(), streamed.PromptIds.Count, tok));
    }

    /// <summary>--show-gates as text: one row per token (prompt tokens marked), one column per gated site.</summary>
    internal static string GateTable(GateValues gates, IReadOnlyList<int> ids, int promptLength, ITokenizer tok)
    {
        var sb = new StringBuilder();
        sb.Append("gates (sigmoid of each site's probe; steering there is scaled by it):\n");
        sb.Append($"  {"pos",4}  {"token",-16}").Append(string.Concat(gates.Sites.Select(s => $" {s,9}"))).Append('\n');
        for (var t = 0; t < ids.Count; t++)
        {
            var piece = tok.Decode([ids[t]]).Replace("\n", "\\n");
            if (piece.Length > 15) piece = piece[..15];
            sb.Append($"  {t,4}{(t < promptLength ? "p" : " ")} {piece,-16}");
            foreach (var g in gates.Gates) sb.Append(System.FormattableString.Invariant($" {g[t],9:0.000}"));
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The --json document; <paramref name="gates"/> (--show-gates) adds a "gates" object: site → gate per position.</summary>
    internal static string ToJson(string prompt, GenerationResult result, string text, GateValues? gates = null)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("schema", JsonSchema);
            w.WriteString("prompt", prompt);
            w.WriteStartArray("prompt_ids");
            foreach (var id in result.PromptIds) w.WriteNumberValue(id);
            w.WriteEndArray();
            w.WriteStartArray("generated_ids");
            foreach (var id in result.GeneratedIds) w.WriteNumberValue(id);
            w.WriteEndArray();
            w.WriteString("text", text);
            w.WriteString("stop_reason", result.StopReason switch
            {
                StopReason.EndOfSequence => "eos",
                StopReason.TokenLimit => "max_new_tokens",
                _ => "context_length",
            });
            if (gates is not null)
            {
                w.WriteStartObject("gates");
                for (var s = 0; s < gates.Sites.Count; s++)
                {
                    w.WriteStartArray(gates.Sites[s]);
                    foreach (var g in gates.Gates[s]) w.WriteNumberValue(g);
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
