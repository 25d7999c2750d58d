using OnnxSteer.Runtime;
using Xunit;

namespace OnnxSteer.Tests.Runtime;

/// <summary>
/// No GPU and no CUDA provider libraries exist on the test machines, so these tests check the failure path: the error
/// names the provider libraries and the fix, and auto falls back to CPU with one notice line.
/// </summary>
public class ExecutionProviderTests
{
    [Fact]
    public void Cuda_WithoutProviderLibraries_NamesThemAndTheFix()
    {
        using var options = new SessionOptions();
        var e = Assert.Throws<ExecutionProviderUnavailableException>(() => options.AppendExecutionProvider_CUDA(0));
        Assert.Contains("libonnxruntime_providers_shared.so", e.Message);
        Assert.Contains("libonnxruntime_providers_cuda.so", e.Message);
        Assert.Contains("--ort-library", e.Message);
        Assert.Contains(OrtLibrary.EnvironmentVariable, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        var ort = Assert.IsType<OrtException>(e.InnerException);
        Assert.Contains("Failed to load library", e.Message); // ORT's own reason is kept
        Assert.Empty(options.AppendedProviders);
    }

    [Fact]
    public void CudaDevice_FailsSessionCreationWithRuntimeExitCode()
    {
        var settings = new RuntimeSettings { Device = ExecutionDevice.Cuda, DeviceId = 1 };
        var e = Assert.Throws<ExecutionProviderUnavailableException>(() => settings.CreateSessionOptions());
        Assert.Equal(ExitCodes.Runtime, e.ExitCode);
    }

    [Fact]
    public void Auto_FallsBackToCpuWithOneNoticeLine()
    {
        var notices = new List<string>();
        var settings = new RuntimeSettings { Device = ExecutionDevice.Auto, Notice = notices.Add };
        using (var options = settings.CreateSessionOptions())
            Assert.Empty(options.AppendedProviders);
        using var session = settings.OpenSession(WriteDouble(out var path));
        try
        {
            Assert.Equal(new[] { "CPUExecutionProvider" }, session.Providers);
            using var x = OrtValue.CreateTensorValueFromMemory(new float[] { 2 }, [1]);
            using var y = session.Run(new Dictionary<string, OrtValue> { ["X"] = x });
            Assert.Equal(4f, y[0].GetTensorDataAsSpan<float>()[0]);
        }
        finally { File.Delete(path); }
        // The CUDA attempt happens (and is reported) at most once per process; other tests may have reported it already.
        Assert.True(notices.Count <= 1);
        foreach (var n in notices)
        {
            Assert.DoesNotContain('\n', n);
            Assert.Contains("running on CPU", n);
        }
    }

    [Fact]
    public void Settings_ApplyThreadsAndRejectNegativeValues()
    {
        using (var options = new RuntimeSettings { Threads = 2 }.CreateSessionOptions())
            Assert.Equal(2, options.IntraOpNumThreads);
        Assert.Equal(ExitCodes.Usage, Assert.Throws<OnnxSteerException>(() => new RuntimeSettings { Threads = -1 }.CreateSessionOptions()).ExitCode);
        Assert.Equal(ExitCodes.Usage, Assert.Throws<OnnxSteerException>(() => new RuntimeSettings { DeviceId = -1 }.CreateSessionOptions()).ExitCode);
    }

    [Theory]
    [InlineData("cpu", ExecutionDevice.Cpu)]
    [InlineData("CUDA", ExecutionDevice.Cuda)]
    [InlineData("auto", ExecutionDevice.Auto)]
    public void ParseDevice_AcceptsTheThreeNames(string text, ExecutionDevice expected) =>
        Assert.Equal(expected, ExecutionProviders.ParseDevice(text));

    [Fact]
    public void ParseDevice_RejectsOthers() =>
        Assert.Contains("expected cpu, cuda or auto", Assert.Throws<OnnxSteerException>(() => ExecutionProviders.ParseDevice("tpu")).Message);

    private static string WriteDouble(out string path) => path = TinyModels.WriteTemp(TinyModels.Double());
}
