using System.CommandLine;
using OnnxSteer.Cli.Options;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Cli.Commands;

/// <summary>What <c>onnxsteer repack</c> was asked: <see cref="DataFile"/> null means every weight inline.</summary>
internal sealed record RepackOptions(string Input, string Output, string? DataFile, long Threshold, long Align, bool Force)
{
    /// <summary>How the weights are stored.</summary>
    public SaveOptions Save => DataFile is null ? SaveOptions.Inline : SaveOptions.External(DataFile, Threshold, Align);
}

/// <summary><c>onnxsteer repack IN -o OUT [--external-data NAME | --inline] [--threshold BYTES] [--align BYTES]</c>.</summary>
internal sealed class RepackCommand : CliCommand<RepackOptions>
{
    private readonly Argument<string> _input = new("IN") { Description = "The model to read (a .onnx file, or a folder holding model.onnx). It is never modified." };
    private readonly Option<string?> _variant = CommonOptions.Variant();
    private readonly Option<string> _output = CommonOptions.Output(
        "Where to write: a .onnx file path, or a folder (the model keeps its file name). Its data file and the files beside the input (tokenizer, genai_config.json) go in the same folder.");
    private readonly Option<string?> _external = new("--external-data")
    {
        Description = "Store initializers of at least --threshold bytes in this one data file (a name relative to OUT's folder, e.g. model.onnx.data).",
    };
    private readonly Option<bool> _inline = new("--inline") { Description = "Store every weight inside the model file (the default; protobuf limits this to 2 GB)." };
    private readonly Option<long> _threshold = new Option<long>("--threshold")
    {
        Description = "With --external-data: tensors smaller than this many bytes stay inline.",
        DefaultValueFactory = _ => SaveOptions.DefaultSizeThreshold,
    }.AtLeast(0);
    private readonly Option<long> _align = new Option<long>("--align")
    {
        Description = "With --external-data: start every tensor at a multiple of this many bytes.",
        DefaultValueFactory = _ => SaveOptions.DefaultAlignment,
    }.AtLeast(1);
    private readonly Option<bool> _force = CommonOptions.Force();

    protected override Command Declare() => Define("repack",
        "Convert a model's weights between inline and one external data file. Writes go to a temporary name and are renamed into place.",
        _input, _variant, _output, _external, _inline, _threshold, _align, _force);

    protected override RepackOptions Bind(ParseResult parse)
    {
        var dataFile = parse.GetValue(_external);
        if (dataFile is not null && parse.GetValue(_inline))
            throw new CommandLineException("repack: --external-data and --inline contradict each other; give one", ExitCodes.Usage);
        return new(CommonOptions.Model(parse.GetValue(_input)!, parse.GetValue(_variant)), parse.GetValue(_output)!, dataFile, parse.GetValue(_threshold), parse.GetValue(_align), parse.GetValue(_force));
    }

    public override int Run(RepackOptions o, CommandIo io)
    {
        // The file repack writes: into an existing folder the model keeps its name.
        var inputModel = ModelLocator.Resolve(o.Input);
        var target = ModelLocator.OutputFile(o.Output, inputModel);
        CheckOutputs(o, inputModel, target);
        // A forced repack over an earlier one: its data file may be one the new model does not use.
        var previous = o.Force ? OutputChecks.DataFilesOf(target) : [];
        var (result, carried) = ModelRepacker.Repack(o.Input, o.Output, o.Save);
        var removed = OutputChecks.RemoveUnused(previous, OutputChecks.DataFilesOf(inputModel).Concat(OutputChecks.DataFilesOf(result.ModelFile)));
        io.Out.WriteLine($"wrote {result.ModelFile} ({result.ModelBytes} bytes)");
        if (result.DataFile is not null)
            io.Out.WriteLine($"wrote {result.DataFile} ({result.ExternalBytes} bytes, {result.ExternalTensors} tensors)");
        if (carried.Count > 0) io.Out.WriteLine($"carried {string.Join(", ", carried)}");
        foreach (var file in removed) io.Out.WriteLine($"removed {file} (the replaced model's data; this one does not use it)");
        return ExitCodes.Success;
    }

    /// <summary>The model file, its data file and the sidecars it carries: none replaced without --force.</summary>
    private static void CheckOutputs(RepackOptions o, string inputModel, string target)
    {
        OutputChecks.File(target, o.Force);
        if (o.Force) return;
        var inputData = OutputChecks.DataFilesOf(inputModel).Select(Path.GetFileName).OfType<string>();
        OutputChecks.Sidecars(inputModel, Path.GetDirectoryName(target)!,
            [Path.GetFileName(target), .. o.DataFile is null ? Array.Empty<string>() : [o.DataFile], .. inputData]);
    }
}
