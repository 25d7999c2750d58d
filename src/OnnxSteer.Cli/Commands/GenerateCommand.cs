using System.CommandLine;
using System.Text;
using System.Text.Json;
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
        var runtime = new RuntimeOptions();

        var command = new Command("generate",
            "Generate a continuation of --prompt with the model's KV cache, greedy by default or sampled (--temperature, " +
            "--top-k, --top-p, --seed). Stops at the model's EOS token (genai_config.json, else the tokenizer's) or after " +
            "--max-new-tokens. Text streams to stdout as it is produced.");
        command.Arguments.Add(model);
        var strength = new StrengthOption();
        foreach (var o in new Option[] { prompt, maxNew, temperature, topK, topP, seed, tokenizer, json, strength.Option }) command.Options.Add(o);
        runtime.AddTo(command);

        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var modelPath = parse.GetValue(model)!;
            var tokenizerPath = parse.GetValue(tokenizer) ?? (Directory.Exists(modelPath) ? modelPath : Path.GetDirectoryName(Path.GetFullPath(modelPath))!);
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

            using var decoder = DecoderModel.Open(modelPath, runtime.Read(parse));
            using var strengthValue = strength.Apply(parse, decoder);
            var tok = TokenizerLoader.Load(tokenizerPath);
            if (decoder.Layout.EosTokenIds.Count == 0 && tok.EosTokenId is { } eos) options = options with { EosTokenIds = [eos] };
            var text = parse.GetValue(prompt)!;
            var promptIds = tok.EncodeToIds(text);

            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
            Console.CancelKeyPress += onCancel;
            try
            {
                var generator = new Generator(decoder);
                if (parse.GetValue(json))
                {
                    var result = generator.Generate(promptIds, options, cancellationToken: cts.Token);
                    Console.Out.WriteLine(ToJson(text, result, tok.Decode(result.GeneratedIds)));
                }
                else
                {
                    var streamer = new TextStreamer(tok);
                    Console.Out.Write(text);
                    generator.Generate(promptIds, options, id =>
                    {
                        Console.Out.Write(streamer.Push(id));
                        Console.Out.Flush();
                    }, cts.Token);
                    Console.Out.WriteLine(streamer.Flush());
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

    /// <summary>The --json document.</summary>
    public static string ToJson(string prompt, GenerationResult result, string text)
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
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
