using System.CommandLine;
using OnnxSteer.Cli;
using OnnxSteer.Runtime;
using Xunit;

namespace OnnxSteer.Tests.Runtime;

/// <summary>The shared CLI options turn into the settings the runtime uses.</summary>
public class RuntimeOptionsTests
{
    private static (Command, RuntimeOptions) Build()
    {
        var command = new Command("x");
        var options = new RuntimeOptions().AddTo(command);
        return (command, options);
    }

    [Fact]
    public void Defaults_AreCpuWithOrtDefaults()
    {
        var (command, options) = Build();
        var settings = options.Read(command.Parse([]));
        Assert.Equal(ExecutionDevice.Cpu, settings.Device);
        Assert.Equal(0, settings.DeviceId);
        Assert.Equal(0, settings.Threads);
        Assert.Null(settings.LibraryPath);
    }

    [Fact]
    public void GivenValues_ReachTheSettings()
    {
        var (command, options) = Build();
        var parse = command.Parse(["--device", "auto", "--device-id", "2", "--threads", "3", "--ort-library", "/opt/ort-gpu"]);
        Assert.Empty(parse.Errors);
        var settings = options.Read(parse);
        Assert.Equal(ExecutionDevice.Auto, settings.Device);
        Assert.Equal(2, settings.DeviceId);
        Assert.Equal(3, settings.Threads);
        Assert.Equal("/opt/ort-gpu", settings.LibraryPath);
        Assert.NotNull(settings.Notice);
    }

    [Fact]
    public void UnknownDevice_IsAParseError()
    {
        var (command, _) = Build();
        var parse = command.Parse(["--device", "tpu"]);
        Assert.NotEmpty(parse.Errors);
        Assert.Contains(parse.Errors, e => e.Message.Contains("tpu"));
    }
}
