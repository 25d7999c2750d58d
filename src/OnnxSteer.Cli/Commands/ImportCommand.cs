using System.CommandLine;
using OnnxSteer.Import;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer import llama2c CHECKPOINT --tokenizer TOK.bin -o DIR [--style] [--dtype]</c>.</summary>
public sealed class ImportCommand : ICliCommand
{
    public Command Build()
    {
        var import = new Command("import", "Convert a model from another format into an ONNX model folder.");
        import.Subcommands.Add(BuildLlama2c());
        return import;
    }

    private static Command BuildLlama2c()
    {
        var checkpoint = new Argument<string>("CHECKPOINT") { Description = "llama2.c checkpoint (.bin, legacy format: 7 int32 header then fp32 weights)." };
        var tokenizer = new Option<string>("--tokenizer") { Description = "llama2.c tokenizer file (tok*.bin) matching the checkpoint's vocabulary.", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "Folder to write model.onnx, model.onnx.data, tokenizer.json and genai_config.json into.", Required = true };
        var style = ExportOptionsCli.StyleOption();
        var dtype = ExportOptionsCli.DTypeOption();
        var command = new Command("llama2c", "Import a llama2.c checkpoint (e.g. stories260K) as an ONNX model.");
        command.Arguments.Add(checkpoint);
        command.Options.Add(tokenizer);
        command.Options.Add(output);
        command.Options.Add(style);
        command.Options.Add(dtype);
        var force = OutputChecks.ForceOption();
        command.Options.Add(force);
        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            OutputChecks.ModelFolder(parse.GetValue(output)!, parse.GetValue(force));
            var result = Llama2cImporter.Import(parse.GetValue(checkpoint)!, parse.GetValue(tokenizer)!, parse.GetValue(output)!,
                ExportNames.ParseStyle(parse.GetValue(style)!), ExportNames.ParseDType(parse.GetValue(dtype)!));
            Console.WriteLine($"wrote {result.ModelPath} ({result.DataBytes:N0} bytes of weights in {Path.GetFileName(result.DataPath)})");
            return 0;
        }));
        return command;
    }
}

/// <summary>The --style and --dtype options shared by import and synth.</summary>
internal static class ExportOptionsCli
{
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
