using System.CommandLine;

namespace OnnxSteer.Cli.Commands;

/// <summary><c>onnxsteer unpatch STEERED -o OUT</c>: restore the unsteered model from a steered one.</summary>
public sealed class UnpatchCommand : ICliCommand
{
    public Command Build()
    {
        var model = new Argument<string>("steered") { Description = "A model written by 'onnxsteer patch' (.onnx file or folder). It is never modified." };
        var output = new Option<string>("--output", "-o")
        {
            Description = "Where to write the restored model: a folder (keeps the file name) or a .onnx file path.",
            Required = true,
        };
        var command = new Command("unpatch",
            "Remove the steering that 'onnxsteer patch' recorded in a model: inserted nodes and constants go, folded weights " +
            "get back their original data, and the result is structurally equal to the model before patching.");
        command.Arguments.Add(model);
        var force = OutputChecks.ForceOption();
        command.Options.Add(output);
        command.Options.Add(force);
        command.SetAction(parse => CommandRunner.Run(parse, _ =>
        {
            OutputChecks.SteeredModel(parse.GetValue(output)!, parse.GetValue(model)!, parse.GetValue(force));
            var (written, removed) = Steerer.UnpatchWithRecord(parse.GetValue(model)!, parse.GetValue(output)!, ErrorReporter.Notice);
            if (OutputChecks.RemoveStaleSteerData(written) is { } stale) Console.Out.WriteLine($"removed {stale} (this model does not use it)");
            foreach (var step in removed)
                Console.Out.WriteLine($"removed {step.Method} steering at {string.Join(", ", step.Sites)} ({step.Apply})");
            Console.Out.WriteLine($"wrote {written.ModelFile}");
            return ExitCodes.Success;
        }));
        return command;
    }
}
