using System.CommandLine;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer repack IN -o OUT [--external-data NAME | --inline] [--threshold BYTES] [--align BYTES]</c>.</summary>
public sealed class RepackCommand : ICliCommand
{
    public Command Build()
    {
        var input = new Argument<string>("IN") { Description = "The model to read (a .onnx file, or a folder holding model.onnx). It is never modified." };
        var output = new Option<string>("--output", "-o")
        {
            Description = "Where to write: a .onnx file path, or a folder (the model keeps its file name). Its data file and the files beside the input (tokenizer, genai_config.json) go in the same folder.",
            Required = true,
        };
        var external = new Option<string?>("--external-data")
        {
            Description = "Store initializers of at least --threshold bytes in this one data file (a name relative to OUT's folder, e.g. model.onnx.data).",
        };
        var inline = new Option<bool>("--inline") { Description = "Store every weight inside the model file (the default; protobuf limits this to 2 GB)." };
        var threshold = new Option<long>("--threshold")
        {
            Description = "With --external-data: tensors smaller than this many bytes stay inline.",
            DefaultValueFactory = _ => SaveOptions.DefaultSizeThreshold,
        };
        var align = new Option<long>("--align")
        {
            Description = "With --external-data: start every tensor at a multiple of this many bytes.",
            DefaultValueFactory = _ => ExternalDataWriter.DefaultAlignment,
        };
        var command = new Command("repack", "Convert a model's weights between inline and one external data file. Writes go to a temporary name and are renamed into place.");
        command.Arguments.Add(input);
        command.Options.Add(output);
        command.Options.Add(external);
        command.Options.Add(inline);
        command.Options.Add(threshold);
        command.Options.Add(align);
        var force = OutputChecks.ForceOption();
        command.Options.Add(force);
        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var dataFile = parse.GetValue(external);
            if (dataFile is not null && parse.GetValue(inline))
                throw new CommandLineException("repack: --external-data and --inline contradict each other; give one", ExitCodes.Usage);
            if (parse.GetValue(threshold) < 0) throw new CommandLineException("repack: --threshold must not be negative", ExitCodes.Usage);
            if (parse.GetValue(align) < 1) throw new CommandLineException("repack: --align must be at least 1", ExitCodes.Usage);
            var options = dataFile is null
                ? SaveOptions.Inline
                : SaveOptions.External(dataFile, parse.GetValue(threshold), parse.GetValue(align));
            var (inPath, outPath) = (parse.GetValue(input)!, parse.GetValue(output)!);
            // The file repack writes: into an existing folder the model keeps its name.
            var inputModel = ModelLocator.Resolve(inPath);
            var target = ModelRepacker.OutputFile(outPath, inputModel);
            OutputChecks.File(target, parse.GetValue(force));
            if (!parse.GetValue(force)) OutputChecks.Sidecars(inputModel, Path.GetDirectoryName(target)!, 
                [Path.GetFileName(target), .. dataFile is null ? Array.Empty<string>() : [dataFile], .. OutputChecks.DataFilesOf(inputModel).Select(Path.GetFileName).OfType<string>()]);
            // A forced repack over an earlier one: its data file may be one the new model does not use.
            var previous = parse.GetValue(force) ? OutputChecks.DataFilesOf(target) : [];
            var (result, carried) = ModelRepacker.Repack(inPath, outPath, options);
            var removed = OutputChecks.RemoveUnused(previous, OutputChecks.DataFilesOf(inputModel).Concat(OutputChecks.DataFilesOf(result.ModelFile)));
            Console.WriteLine($"wrote {result.ModelFile} ({result.ModelBytes} bytes)");
            if (result.DataFile is not null)
                Console.WriteLine($"wrote {result.DataFile} ({result.ExternalBytes} bytes, {result.ExternalTensors} tensors)");
            if (carried.Count > 0) Console.WriteLine($"carried {string.Join(", ", carried)}");
            foreach (var file in removed) Console.WriteLine($"removed {file} (the replaced model's data; this one does not use it)");
            return 0;
        }));
        return command;
    }
}
