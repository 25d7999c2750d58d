using OnnxSteer.Runtime;
using Xunit;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Runtime;

/// <summary>
/// No GPU exists on the test machines and the default build carries the CPU natives (Microsoft.ML.OnnxRuntime), so these
/// tests check the failure path: the error names what is missing and the fix, and auto falls back to CPU with one notice
/// line. In the CUDA build (OnnxSteerCuda=true: the provider library is there, the CUDA 13 libraries are not) the error
/// names the missing CUDA libraries instead.
/// </summary>
public class ExecutionProviderTests
{
    private static bool CudaBuild => File.Exists(Path.Combine(Path.GetDirectoryName(OrtLibraryTests.PackageLibrary)!, ExecutionProviders.CudaProviderLibrary));

    [Fact]
    public void Cuda_WhereItCannotLoad_NamesWhatIsMissingOnOneLine()
    {
        OrtLibrary.EnsureLoaded();
        using var options = new SessionOptions();
        var e = Assert.Throws<ExecutionProviderUnavailableException>(() => ExecutionProviders.AppendCuda(options, 0));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(ExitCodes.Runtime, ErrorReporter.ExitCode(e));
        Assert.Contains("ORT said:", e.Message); // ORT's own reason is kept
        Assert.IsType<OrtException>(e.InnerException);
        if (CudaBuild)
        {
            // The provider library is there; what is missing is the host's CUDA 13 (none on the test machines).
            Assert.Contains("missing libcudart.so.13", e.Message);
            Assert.Contains("libcublasLt.so.13", e.Message);
        }
        else
        {
            Assert.Contains("has no libonnxruntime_providers_cuda.so", e.Message);
            Assert.Contains("Microsoft.ML.OnnxRuntime.Gpu.Linux", e.Message);
            Assert.Contains("--ort-library", ErrorReporter.Message(e));
        }
    }

    [Fact]
    public void CudaDevice_FailsSessionCreationWithRuntimeExitCode()
    {
        var settings = new RuntimeSettings { Device = ExecutionDevice.Cuda, DeviceId = 1 };
        var e = Assert.Throws<ExecutionProviderUnavailableException>(() => settings.CreateSessionOptions());
        Assert.Equal(ExitCodes.Runtime, ErrorReporter.ExitCode(e));
    }

    [Fact]
    public void Auto_FallsBackToCpuWithOneNoticeLine()
    {
        var notices = new List<string>();
        var settings = new RuntimeSettings { Device = ExecutionDevice.Auto, Notice = n => notices.Add(n.ToString()) };
        using (settings.CreateSessionOptions(out var device))
            Assert.Equal(ExecutionDevice.Cpu, device);
        var path = TinyModels.WriteTemp(TinyModels.Double());
        try
        {
            using var session = settings.OpenSession(path, out var device);
            Assert.Equal(ExecutionDevice.Cpu, device);
            using var x = OrtValue.CreateTensorValueFromMemory(new float[] { 2 }, [1]);
            using var y = session.RunNamed(new Dictionary<string, OrtValue> { ["X"] = x });
            Assert.Equal(4f, y[0].GetTensorDataAsSpan<float>()[0]);
        }
        finally { File.Delete(path); }
        // The CUDA attempt happens (and is reported) at most once per process; other tests may have reported it already.
        Assert.True(notices.Count <= 1);
        foreach (var n in notices)
        {
            Assert.DoesNotContain('\n', n);
            Assert.Contains("running on CPU", n);
            Assert.Contains(CudaBuild ? "libcudart.so.13" : "libonnxruntime_providers_cuda.so", n);
        }
    }

    [Fact]
    public void Settings_ApplyThreadsAndRejectNegativeValues()
    {
        using (var options = new RuntimeSettings { Threads = 2 }.CreateSessionOptions())
            Assert.Equal(2, options.IntraOpNumThreads);
        Assert.Equal(ExitCodes.Usage, ErrorReporter.ExitCode(Assert.Throws<InvalidParameterException>(() => new RuntimeSettings { Threads = -1 }.CreateSessionOptions())));
        Assert.Equal(ExitCodes.Usage, ErrorReporter.ExitCode(Assert.Throws<InvalidParameterException>(() => new RuntimeSettings { DeviceId = -1 }.CreateSessionOptions())));
    }

    [Theory]
    [InlineData("cpu", ExecutionDevice.Cpu)]
    [InlineData("CUDA", ExecutionDevice.Cuda)]
    [InlineData("auto", ExecutionDevice.Auto)]
    public void ParseDevice_AcceptsTheThreeNames(string text, ExecutionDevice expected) =>
        Assert.Equal(expected, RuntimeOptions.ParseDevice(text));

    [Fact]
    public void ParseDevice_RejectsOthers() =>
        Assert.Contains("expected cpu, cuda or auto", Assert.Throws<InvalidParameterException>(() => RuntimeOptions.ParseDevice("tpu")).Message);
}
