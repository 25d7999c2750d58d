using System.CommandLine;
using OnnxSteer.Runtime;

namespace OnnxSteer.Cli;

/// <summary>
/// The options every command that runs a model shares: <c>--ort-library PATH</c>, <c>--device cpu|cuda|auto</c>,
/// <c>--device-id N</c>, <c>--threads N</c>. Create one instance per command, <see cref="AddTo"/> it, and turn the parse
/// result into <see cref="RuntimeSettings"/> with <see cref="Read"/>.
/// </summary>
public sealed class RuntimeOptions
{
    /// <summary>--ort-library PATH.</summary>
    public Option<string?> OrtLibrary { get; } = new("--ort-library")
    {
        Description = "An ONNX Runtime build of your own (1.32 or newer): its libonnxruntime.so or the folder holding it, e.g. a GPU "
            + "build with its provider libraries. Default: $" + RuntimeSettings.LibraryPathVariable
            + ", else the ONNX Runtime OnnxSteer was built with (NuGet).",
        HelpName = "PATH",
    };

    /// <summary>--device cpu|cuda|auto.</summary>
    public Option<string> Device { get; } = new("--device")
    {
        Description = "Where to run the model: cpu, cuda (fails if the CUDA provider cannot load), or auto (CUDA when it loads, else CPU).",
        DefaultValueFactory = _ => "cpu",
        HelpName = "cpu|cuda|auto",
    };

    /// <summary>--device-id N.</summary>
    public Option<int> DeviceId { get; } = new("--device-id")
    {
        Description = "CUDA device ordinal (with --device cuda or auto).",
        DefaultValueFactory = _ => 0,
        HelpName = "N",
    };

    /// <summary>--threads N.</summary>
    public Option<int> Threads { get; } = new("--threads")
    {
        Description = "Intra-op threads for ONNX Runtime, in onnxsteer's own loop and in onnxruntime-genai (0 = the CPUs this process may use: its affinity mask and cgroup CPU quota; at most 4 per such CPU).",
        DefaultValueFactory = _ => 0,
        HelpName = "N",
    };

    public RuntimeOptions()
    {
        Device.AcceptOnlyFromAmong("cpu", "cuda", "auto");
    }

    /// <summary>Adds the four options to <paramref name="command"/>.</summary>
    public RuntimeOptions AddTo(Command command)
    {
        command.Options.Add(OrtLibrary);
        command.Options.Add(Device);
        command.Options.Add(DeviceId);
        command.Options.Add(Threads);
        return this;
    }

    /// <summary>Adds the four options to <paramref name="command"/> and returns it.</summary>
    public Command AddedTo(Command command)
    {
        AddTo(command);
        return command;
    }

    /// <summary>The settings the user asked for; notices (auto falling back to CPU) go to stderr.</summary>
    public RuntimeSettings Read(ParseResult parse) => new()
    {
        LibraryPath = parse.GetValue(OrtLibrary),
        Device = ParseDevice(parse.GetValue(Device) ?? "cpu"),
        DeviceId = parse.GetValue(DeviceId),
        Threads = parse.GetValue(Threads),
        Notice = ErrorReporter.Notice,
    };

    /// <summary>Parses --device: "cpu", "cuda" (or "gpu") or "auto", in any case.</summary>
    public static ExecutionDevice ParseDevice(string text) => text.Trim().ToLowerInvariant() switch
    {
        "cpu" => ExecutionDevice.Cpu,
        "cuda" or "gpu" => ExecutionDevice.Cuda,
        "auto" => ExecutionDevice.Auto,
        _ => throw new InvalidParameterException("device", $"{ErrorText.Param("device")} {text}: expected cpu, cuda or auto"),
    };
}
