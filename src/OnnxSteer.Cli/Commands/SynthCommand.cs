using System.CommandLine;
using OnnxSteer.Cli.Options;
using OnnxSteer.Import;

namespace OnnxSteer.Cli.Commands;

/// <summary>What <c>onnxsteer synth llama</c> was asked.</summary>
internal sealed record SynthOptions(LlamaConfig Config, ulong Seed, string Output, ExportStyle Style, ExportDType DType, bool Force);

/// <summary><c>onnxsteer synth llama -o DIR --layers L --hidden H --intermediate I --heads A --kv-heads B --vocab V ...</c>.</summary>
internal sealed class SynthCommand : CliCommand<SynthOptions>
{
    private readonly Option<string> _output = CommonOptions.Output("Folder to write the model into.");
    private readonly Option<int> _layers = Size("--layers", "Number of decoder layers.");
    private readonly Option<int> _hidden = Size("--hidden", "Hidden size (model width); a multiple of --heads.");
    private readonly Option<int> _intermediate = Size("--intermediate", "MLP intermediate size (the width of the mlp steering site).");
    private readonly Option<int> _heads = Size("--heads", "Attention (query) heads; head size = hidden / heads. In the genai style a head size that is a multiple of 16 gets GroupQueryAttention, others RotaryEmbedding + MultiHeadAttention (ONNX Runtime CPU limit).");
    private readonly Option<int?> _kvHeads = new("--kv-heads") { Description = "Key/value heads (default: --heads); --heads must be a multiple of it." };
    private readonly Option<int> _vocab = Size("--vocab", $"Vocabulary size (at least {SyntheticModel.MinimumVocab}).");
    private readonly Option<int> _context = new("--context") { Description = "Longest sequence the rotary tables cover.", DefaultValueFactory = _ => 2048 };
    private readonly Option<ulong> _seed = new("--seed") { Description = "Seed: the same seed and shape give byte-identical weights.", DefaultValueFactory = _ => 0UL };
    private readonly Option<string> _style = ExportOptionsCli.StyleOption();
    private readonly Option<string> _dtype = ExportOptionsCli.DTypeOption();
    private readonly Option<bool> _force = CommonOptions.Force();

    /// <summary><c>onnxsteer synth</c>: the architectures a model can be synthesised in.</summary>
    public static CommandGroup Group() =>
        new("synth", "Write a model with deterministic pseudo-random weights at any shape (for benchmarks and tests).", new SynthCommand());

    protected override Command Declare() => Define("llama",
        "Write a Llama-architecture model (RMSNorm, rotary attention, SwiGLU) with pseudo-random weights, " +
        "streamed to model.onnx.data so multi-GB models need little memory.",
        _output, _layers, _hidden, _intermediate, _heads, _kvHeads, _vocab, _context, _seed, _style, _dtype, _force);

    protected override SynthOptions Bind(ParseResult parse)
    {
        var heads = parse.GetValue(_heads);
        var config = new LlamaConfig(parse.GetValue(_hidden), parse.GetValue(_intermediate), parse.GetValue(_layers), heads,
            parse.GetValue(_kvHeads) ?? heads, parse.GetValue(_vocab), parse.GetValue(_context));
        return new(config, parse.GetValue(_seed), parse.GetValue(_output)!,
            ExportOptionsCli.ParseStyle(parse.GetValue(_style)!), ExportOptionsCli.ParseDType(parse.GetValue(_dtype)!), parse.GetValue(_force));
    }

    public override int Run(SynthOptions o, CommandIo io) =>
        ExportOptionsCli.WriteFolder(io, o.Output, o.Force, () => SyntheticModel.Write(o.Config, o.Seed, o.Output, o.Style, o.DType));

    private static Option<int> Size(string name, string description) => new(name) { Description = description, Required = true };
}
