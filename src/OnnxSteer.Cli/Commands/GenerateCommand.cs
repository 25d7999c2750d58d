using System.CommandLine;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OnnxSteer.Cli.Hosts;
using OnnxSteer.Cli.Options;
using OnnxSteer.Diffing;
using OnnxSteer.Generation;
using OnnxSteer.Runtime;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Cli.Commands;

/// <summary>What <c>onnxsteer generate</c> was asked; <see cref="Genai"/>: run in onnxruntime-genai instead of onnxsteer's own loop.</summary>
internal sealed record GenerateOptions(string Model, string Prompt, SamplingSettings Sampling, string? Tokenizer, bool Json, bool ShowGates,
    bool Genai, float? Strength, RuntimeSettings Runtime)
{
    /// <summary>The tokenizer's path: the one given, else the model's folder.</summary>
    public string TokenizerPath => Tokenizer ?? CommonOptions.ModelFolder(Model);
}

/// <summary><c>onnxsteer generate MODEL --prompt TEXT [...]</c>: generate a continuation, streamed to stdout or as JSON.</summary>
internal sealed class GenerateCommand : CliCommand<GenerateOptions>
{
    /// <summary>The JSON schema id of <c>--json</c> output.</summary>
    public const string JsonSchema = "onnxsteer.generate/1";

    private readonly Argument<string> _model = new("model") { Description = "The model: a folder (its genai_config.json names the .onnx file, else model.onnx) or a .onnx file." };
    private readonly Option<string?> _variant = CommonOptions.Variant();
    private readonly Option<string> _prompt = new("--prompt") { Description = "The text to continue.", Required = true, HelpName = "TEXT" };
    private readonly Option<int> _maxNew = new Option<int>("--max-new-tokens") { Description = "Stop after this many new tokens.", DefaultValueFactory = _ => 64, HelpName = "N" }.AtLeast(0);
    private readonly Option<float?> _temperature = new("--temperature") { Description = "Sampling temperature; 0 = greedy (the default). Giving --top-k, --top-p or --seed alone samples at 1.", HelpName = "T" };
    private readonly Option<int> _topK = new("--top-k") { Description = "Sample among the K most likely tokens (0 = all).", HelpName = "K" };
    private readonly Option<float> _topP = new("--top-p") { Description = "Sample among the most likely tokens holding probability P (nucleus; 1 = all).", DefaultValueFactory = _ => 1f, HelpName = "P" };
    private readonly Option<int?> _seed = new("--seed") { Description = "Random seed, for repeatable sampling.", HelpName = "S" };
    private readonly Option<string?> _tokenizer = CommonOptions.Tokenizer("tokenizer.json, a llama2.c tok*.bin, or a folder holding one. Default: the model's folder.");
    private readonly Option<bool> _json = CommonOptions.Json($"Print one JSON object ({JsonSchema}: prompt ids, generated ids, text, stop reason) instead of streaming text.");
    private readonly Option<bool> _showGates = new("--show-gates")
    {
        Description = "For a 'patch --dynamic' model: after the text, print each steered site's gate (0 = not steered, 1 = full " +
                      "steering) at every token of the prompt and the continuation (with --json: a \"gates\" object).",
    };
    private readonly Option<string> _engine = EngineOption();
    private readonly StrengthOption _strength = new();
    private readonly RuntimeOptions _runtime = new();

    private static Option<string> EngineOption()
    {
        var engine = new Option<string>("--engine")
        {
            Description = "What runs the model: onnxsteer (its own generation loop, the default) or genai (onnxruntime-genai, " +
                          "reading the folder's genai_config.json; CPU only; --strength goes in as an .onnx_adapter).",
            DefaultValueFactory = _ => "onnxsteer",
            HelpName = "onnxsteer|genai",
        };
        engine.AcceptOnlyFromAmong("onnxsteer", "genai");
        return engine;
    }

    protected override Command Declare() => _runtime.AddedTo(Define("generate",
        "Generate a continuation of --prompt with the model's KV cache, greedy by default or sampled (--temperature, " +
        "--top-k, --top-p, --seed). Stops at the model's EOS token (genai_config.json, else the tokenizer's) or after " +
        "--max-new-tokens. Text streams to stdout as it is produced.",
        _model, _variant, _prompt, _maxNew, _temperature, _topK, _topP, _seed, _tokenizer, _json, _strength.Option, _engine, _showGates));

    protected override GenerateOptions Bind(ParseResult parse)
    {
        var sampling = parse.GetValue(_topK) > 0 || parse.GetValue(_topP) < 1 || parse.GetValue(_seed) is not null;
        var generation = new SamplingSettings
        {
            MaxTokens = parse.GetValue(_maxNew),
            Temperature = parse.GetValue(_temperature) ?? (sampling ? 1f : 0f),
            TopK = parse.GetValue(_topK),
            TopP = parse.GetValue(_topP),
            Seed = parse.GetValue(_seed),
        };
        return new(CommonOptions.Model(parse.GetValue(_model)!, parse.GetValue(_variant)), parse.GetValue(_prompt)!, generation, parse.GetValue(_tokenizer), parse.GetValue(_json),
            parse.GetValue(_showGates), parse.GetValue(_engine) == "genai", _strength.Read(parse), _runtime.Read(parse));
    }

    public override int Run(GenerateOptions o, CommandIo io)
    {
        ModelSniff.RefuseNonOnnx(o.Model);
        o.Sampling.Validate();
        o = o with { Runtime = o.Runtime with { Notice = io.Notice } };
        CtrlC.Cancels(cancel =>
        {
            if (o.Genai) RunGenai(o, io, cancel);
            else RunOwn(o, io, cancel);
        });
        return ExitCodes.Success;
    }

    /// <summary>In onnxruntime-genai: the strength goes in as a temporary .onnx_adapter.</summary>
    private static void RunGenai(GenerateOptions o, CommandIo io, CancellationToken cancel)
    {
        if (o.Runtime.Device == ExecutionDevice.Cuda)
            throw new CommandLineException("--engine genai runs on the CPU here (no CUDA build of onnxruntime-genai is installed)", ExitCodes.Usage);
        using var genai = GenaiHost.Open(o.Model, o.Runtime);
        // The model opens first, so a wrong model path is reported as such rather than as a missing tokenizer.
        var (tok, promptIds) = Encode(o);
        using var adapter = o.Strength is { } s ? TemporaryAdapter.ForStrength(o.Model, s) : null;
        if (o.ShowGates) throw new CommandLineException("--show-gates runs the model in onnxsteer's own engine; leave out --engine genai", ExitCodes.Usage);
        var output = new GenerationOutput(io, o.Prompt, promptIds, tok);
        var activate = adapter is null ? null : genai.UseAdapterFile(adapter.Path);
        output.Print(o.Json, (onToken, token) => genai.Collect(promptIds, o.Sampling, activate, onToken, token), null, cancel);
    }

    /// <summary>In onnxsteer's own loop: the strength is fed as an input; --show-gates reruns the ids through the gates.</summary>
    private static void RunOwn(GenerateOptions o, CommandIo io, CancellationToken cancel)
    {
        // Before generating: a model without gates fails now, not after the whole continuation was printed.
        if (o.ShowGates) GateTrace.RequireGates(o.Model);
        using var decoder = DecoderModel.Open(o.Model, o.Runtime);
        using var strengthValue = StrengthOption.Apply(o.Strength, decoder);
        var (tok, promptIds) = Encode(o);
        var generator = new Generator(decoder) { EosTokenIds = decoder.EosTokenIds.Count == 0 && tok.EosTokenId is { } eos ? [eos] : null };
        Func<GenerationResult, GateValues?>? gates = o.ShowGates ? r => GateTrace.Run(o.Model, [.. r.PromptIds, .. r.GeneratedIds], o.Runtime) : null;
        var output = new GenerationOutput(io, o.Prompt, promptIds, tok);
        output.Print(o.Json, (onToken, token) => generator.Generate(promptIds, o.Sampling, onToken, token), gates, cancel);
    }

    private static (ITokenizer, IReadOnlyList<int>) Encode(GenerateOptions o)
    {
        var tok = TokenizerLoader.Load(o.TokenizerPath);
        return (tok, tok.EncodeToIds(o.Prompt));
    }
}

/// <summary>What generate prints: the text as it streams (then the gate table), or the --json document at the end.</summary>
internal sealed record GenerationOutput(CommandIo Io, string Prompt, IReadOnlyList<int> PromptIds, ITokenizer Tokenizer)
{
    /// <summary>Runs <paramref name="generate"/> and prints its text as it streams, or the --json document at the end.</summary>
    public void Print(bool json, Func<Action<int>?, CancellationToken, GenerationResult> generate, Func<GenerationResult, GateValues?>? gatesOf, CancellationToken cancel)
    {
        if (json)
        {
            var result = generate(null, cancel);
            Io.Out.WriteLine(ToJson(Prompt, result, TextStreamer.Continuation(Tokenizer, PromptIds, result.GeneratedIds), gatesOf?.Invoke(result)));
            return;
        }
        var streamer = new TextStreamer(Tokenizer, PromptIds);
        Io.Out.Write(Prompt);
        var streamed = generate(id =>
        {
            Io.Out.Write(streamer.Push(id));
            Io.Out.Flush();
        }, cancel);
        Io.Out.WriteLine(streamer.Flush());
        if (gatesOf?.Invoke(streamed) is { } gates)
            Io.Out.Write(GateTable(gates, [.. streamed.PromptIds, .. streamed.GeneratedIds], streamed.PromptIds.Count, Tokenizer));
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
            foreach (var g in gates.Gates) sb.Append(FormattableString.Invariant($" {g[t],9:0.000}"));
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The --json document; <paramref name="gates"/> (--show-gates) adds a "gates" object: site → gate per position.</summary>
    internal static string ToJson(string prompt, GenerationResult result, string text, GateValues? gates = null)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("schema", GenerateCommand.JsonSchema);
            w.WriteString("prompt", prompt);
            WriteIds(w, "prompt_ids", result.PromptIds);
            WriteIds(w, "generated_ids", result.GeneratedIds);
            w.WriteString("text", text);
            w.WriteString("stop_reason", result.StopReason switch
            {
                StopReason.EndOfSequence => "eos",
                StopReason.TokenLimit => "max_new_tokens",
                _ => "context_length",
            });
            if (gates is not null) WriteGates(w, gates);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteIds(Utf8JsonWriter w, string name, IReadOnlyList<int> ids)
    {
        w.WriteStartArray(name);
        foreach (var id in ids) w.WriteNumberValue(id);
        w.WriteEndArray();
    }

    private static void WriteGates(Utf8JsonWriter w, GateValues gates)
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
}
