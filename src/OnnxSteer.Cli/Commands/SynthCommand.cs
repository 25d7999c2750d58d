using System.CommandLine;
using OnnxSteer.Import;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer synth llama -o DIR --layers L --hidden H --intermediate I --heads A --kv-heads B --vocab V ...</c>.</summary>
public sealed class SynthCommand : ICliCommand
{
    public Command Build()
    {
        var synth = new Command("synth", "Write a model with deterministic pseudo-random weights at any shape (for benchmarks and tests).");
        synth.Subcommands.Add(BuildLlama());
        return synth;
    }

    private static Command BuildLlama()
    {
        var output = new Option<string>("--output", "-o") { Description = "Folder to write the model into.", Required = true };
        var layers = Size("--layers", "Number of decoder layers.");
        var hidden = Size("--hidden", "Hidden size (model width); a multiple of --heads.");
        var intermediate = Size("--intermediate", "MLP intermediate size (the width of the mlp steering site).");
        var heads = Size("--heads", "Attention (query) heads; head size = hidden / heads. In the genai style a head size that is a multiple of 16 gets GroupQueryAttention, others RotaryEmbedding + MultiHeadAttention (ONNX Runtime CPU limit).");
        var kvHeads = new Option<int?>("--kv-heads") { Description = "Key/value heads (default: --heads); --heads must be a multiple of it." };
        var vocab = Size("--vocab", $"Vocabulary size (at least {SyntheticTokenizer.MinimumVocab}).");
        var context = new Option<int>("--context") { Description = "Longest sequence the rotary tables cover.", DefaultValueFactory = _ => 2048 };
        var seed = new Option<ulong>("--seed") { Description = "Seed: the same seed and shape give byte-identical weights.", DefaultValueFactory = _ => 0UL };
        var style = ExportOptionsCli.StyleOption();
        var dtype = ExportOptionsCli.DTypeOption();
        var command = new Command("llama", "Write a Llama-architecture model (RMSNorm, rotary attention, SwiGLU) with pseudo-random weights, " +
                                           "streamed to model.onnx.data so multi-GB models need little memory.");
        var force = OutputChecks.ForceOption();
        foreach (var option in new Option[] { output, layers, hidden, intermediate, heads, kvHeads, vocab, context, seed, style, dtype, force })
            command.Options.Add(option);
        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            OutputChecks.ModelFolder(parse.GetValue(output)!, parse.GetValue(force));
            int headCount = parse.GetValue(heads);
            var config = new LlamaConfig(parse.GetValue(hidden), parse.GetValue(intermediate), parse.GetValue(layers), headCount,
                parse.GetValue(kvHeads) ?? headCount, parse.GetValue(vocab), parse.GetValue(context));
            var result = SyntheticModel.Write(config, parse.GetValue(seed), parse.GetValue(output)!,
                ExportNames.ParseStyle(parse.GetValue(style)!), ExportNames.ParseDType(parse.GetValue(dtype)!));
            Console.WriteLine($"wrote {result.ModelPath} ({result.DataBytes:N0} bytes of weights in {Path.GetFileName(result.DataPath)})");
            return 0;
        }));
        return command;
    }

    private static Option<int> Size(string name, string description) => new(name) { Description = description, Required = true };
}
