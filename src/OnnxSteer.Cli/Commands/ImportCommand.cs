using System.CommandLine;
using OnnxSteer.Cli.Options;
using OnnxSteer.Import;

namespace OnnxSteer.Cli.Commands;

/// <summary>What <c>onnxsteer import llama2c</c> was asked.</summary>
internal sealed record ImportOptions(string Checkpoint, string Tokenizer, string Output, ExportStyle Style, ExportDType DType, bool Force);

/// <summary><c>onnxsteer import llama2c CHECKPOINT --tokenizer TOK.bin -o DIR [--style] [--dtype]</c>.</summary>
internal sealed class ImportCommand : CliCommand<ImportOptions>
{
    private readonly Argument<string> _checkpoint = new("CHECKPOINT") { Description = "llama2.c checkpoint (.bin, legacy format: 7 int32 header then fp32 weights)." };
    private readonly Option<string> _tokenizer = new("--tokenizer") { Description = "llama2.c tokenizer file (tok*.bin) matching the checkpoint's vocabulary.", Required = true };
    private readonly Option<string> _output = CommonOptions.Output("Folder to write model.onnx, model.onnx.data, tokenizer.json and genai_config.json into.");
    private readonly Option<string> _style = ExportOptionsCli.StyleOption();
    private readonly Option<string> _dtype = ExportOptionsCli.DTypeOption();
    private readonly Option<bool> _force = CommonOptions.Force();

    /// <summary><c>onnxsteer import</c>: the formats a model can be imported from.</summary>
    public static CommandGroup Group() => new("import", "Convert a model from another format into an ONNX model folder.", new ImportCommand());

    protected override Command Declare() => Define("llama2c", "Import a llama2.c checkpoint (e.g. stories260K) as an ONNX model.",
        _checkpoint, _tokenizer, _output, _style, _dtype, _force);

    protected override ImportOptions Bind(ParseResult parse) => new(parse.GetValue(_checkpoint)!, parse.GetValue(_tokenizer)!, parse.GetValue(_output)!,
        ExportOptionsCli.ParseStyle(parse.GetValue(_style)!), ExportOptionsCli.ParseDType(parse.GetValue(_dtype)!), parse.GetValue(_force));

    public override int Run(ImportOptions o, CommandIo io) =>
        ExportOptionsCli.WriteFolder(io, o.Output, o.Force, () => Llama2cImporter.Import(o.Checkpoint, o.Tokenizer, o.Output, o.Style, o.DType));
}

/// <summary>The --style and --dtype options shared by import and synth, and how both write their folder.</summary>
internal static class ExportOptionsCli
{
    /// <summary>Writes a model folder (refused when it holds files they write, unless --force) and says what was written.</summary>
    public static int WriteFolder(CommandIo io, string folder, bool force, Func<ExportResult> write)
    {
        OutputChecks.ModelFolder(folder, force);
        var result = write();
        io.Out.WriteLine($"wrote {result.ModelPath} ({result.DataBytes:N0} bytes of weights in {Path.GetFileName(result.DataPath)})");
        return ExitCodes.Success;
    }

    /// <summary>Parses --style: "genai" or "standard".</summary>
    public static ExportStyle ParseStyle(string text) => text.ToLowerInvariant() switch
    {
        "genai" => ExportStyle.Genai,
        "standard" => ExportStyle.Standard,
        _ => throw new InvalidParameterException("style", $"unknown style '{text}' (expected genai or standard)"),
    };

    /// <summary>Parses --dtype: "fp32", "fp16" or "int4".</summary>
    public static ExportDType ParseDType(string text) => text.ToLowerInvariant() switch
    {
        "fp32" or "float32" => ExportDType.Fp32,
        "fp16" or "float16" => ExportDType.Fp16,
        "int4" => ExportDType.Int4,
        _ => throw new InvalidParameterException("dtype", $"unknown dtype '{text}' (expected fp32, fp16 or int4)"),
    };

    public static Option<string> StyleOption() => new("--style")
    {
        Description = "Graph style: genai (onnxruntime-genai builder ops: GroupQueryAttention, SkipSimplifiedLayerNormalization, MatMulNBits) " +
                      "or standard (default-domain ops only, decomposed attention, Optimum-like names).",
        DefaultValueFactory = _ => "genai",
    };

    public static Option<string> DTypeOption() => new("--dtype")
    {
        Description = "Weight precision: fp32, fp16 (fp16 activations too) or int4 (4-bit blocks of 32 along K, fp32 activations).",
        DefaultValueFactory = _ => "fp32",
    };
}
