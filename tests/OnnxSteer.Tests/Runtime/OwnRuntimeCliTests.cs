using OnnxSteer.Cli;
using OnnxSteer.Runtime;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Runtime;

/// <summary>
/// The CLI with an ONNX Runtime build of one's own (<c>--ort-library</c>, <c>$ONNXSTEER_ORT_LIBRARY</c>) and the device
/// contract where CUDA cannot load (no GPU on the test machines): <c>--device cuda</c> fails with one line and exit 4,
/// <c>--device auto</c> runs on CPU after one notice line. Each case runs the CLI as a new process, because the library is
/// chosen once per process.
/// </summary>
public sealed class OwnRuntimeCliTests : IDisposable
{
    private readonly string _tmp = Directory.CreateTempSubdirectory("onnxsteer-own-ort-").FullName;

    public void Dispose() => Directory.Delete(_tmp, recursive: true);

    private static string Model => ImportedModels.Get("genai", "fp32");

    private static string[] Generate(params string[] extra) =>
        ["generate", Model, "--prompt", "Once upon a time", "--max-new-tokens", "12", .. extra];

    private static (int Code, string Stdout, string Stderr) Cli(string[] args, string? envLibrary = null) =>
        CliProcess.RunConfigured(args, psi =>
        {
            psi.Environment.Remove(OrtLibrary.EnvironmentVariable);
            if (envLibrary is not null) psi.Environment[OrtLibrary.EnvironmentVariable] = envLibrary;
        });

    /// <summary>A copy of the NuGet libonnxruntime.so in a folder of its own: "a build of one's own" at another path.</summary>
    private string CopyOfRuntime()
    {
        var folder = Directory.CreateDirectory(Path.Combine(_tmp, "my-ort")).FullName;
        File.Copy(OrtLibraryTests.PackageLibrary, Path.Combine(folder, "libonnxruntime.so"));
        return folder;
    }

    [SharedFact]
    public void OwnLibrary_ByOptionOrEnvironment_IsTheOneThatRuns_AndGivesTheSameTokens()
    {
        var (code, expected, stderr) = Cli(Generate());
        Assert.True(code == 0, stderr);
        var folder = CopyOfRuntime();
        (code, var viaOption, stderr) = Cli(Generate("--ort-library", folder));
        Assert.True(code == 0, stderr);
        Assert.Equal(expected, viaOption);
        (code, var viaEnv, stderr) = Cli(Generate(), envLibrary: Path.Combine(folder, "libonnxruntime.so"));
        Assert.True(code == 0, stderr);
        Assert.Equal(expected, viaEnv);
        // Proof that the copy, not the NuGet library, was loaded: the CUDA error names the library in use.
        (code, _, stderr) = Cli(Generate("--ort-library", folder, "--device", "cuda"));
        Assert.Equal(ExitCodes.Runtime, code);
        Assert.Contains($"this ONNX Runtime ({Path.Combine(folder, "libonnxruntime.so")})", stderr);
    }

    [SharedFact]
    public void OwnLibrary_ThatIsNotOne_FailsWithOneLineAndExit4()
    {
        var fake = Path.Combine(_tmp, "libonnxruntime.so");
        File.WriteAllText(fake, "not a library");
        var (code, stdout, stderr) = Cli(Generate("--ort-library", fake));
        Assert.Equal(ExitCodes.Runtime, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("onnxsteer: error: ONNX Runtime library " + fake + " could not be loaded", line);

        (code, _, stderr) = Cli(Generate("--ort-library", Path.Combine(_tmp, "nowhere")));
        Assert.Equal(ExitCodes.Runtime, code);
        Assert.Contains("does not exist", stderr);
    }

    [SharedFact]
    public void DeviceCuda_WithoutCuda_FailsWithOneLineNamingWhatIsMissing()
    {
        var (code, stdout, stderr) = Cli(Generate("--device", "cuda"));
        Assert.Equal(ExitCodes.Runtime, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("onnxsteer: error: the CUDA execution provider could not be loaded: ", line);
        // The CPU build lacks the provider library; the CUDA build (OnnxSteerCuda=true) finds it and lacks the host's CUDA 13.
        Assert.True(line.Contains("has no libonnxruntime_providers_cuda.so") || line.Contains("missing libcudart.so.13"), line);
    }

    [SharedFact]
    public void DeviceAuto_WithoutCuda_RunsOnCpuAfterOneNotice()
    {
        var (code, expected, _) = Cli(Generate());
        Assert.Equal(0, code);
        (code, var stdout, var stderr) = Cli(Generate("--device", "auto"));
        Assert.True(code == 0, stderr);
        Assert.Equal(expected, stdout);
        var notice = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("onnxsteer: notice: CUDA is not available (", notice);
        Assert.EndsWith("running on CPU.", notice);
    }
}
