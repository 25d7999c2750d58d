using OnnxSteer.Runtime;
using Xunit;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Runtime;

/// <summary>Choosing the ONNX Runtime library: the NuGet one by default, a build of one's own by path.</summary>
public class OrtLibraryTests
{
    /// <summary>The libonnxruntime.so that Microsoft.ML.OnnxRuntime restored beside the test assembly.</summary>
    internal static string PackageLibrary => Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libonnxruntime.so");

    [Fact]
    public void DefaultLibrary_IsTheNuGetOneAtLeastAsNewAsTheBindings()
    {
        OrtLibrary.EnsureLoaded();
        Assert.True(File.Exists(PackageLibrary), $"{PackageLibrary} missing: the Microsoft.ML.OnnxRuntime natives were not restored");
        Assert.Matches(@"^\d+\.\d+\.\d+", OrtLibrary.Version);
        Assert.True(Version.Parse(OrtLibrary.Version) >= OrtLibrary.BindingsVersion, $"{OrtLibrary.Version} < {OrtLibrary.BindingsVersion}");
        Assert.Equal(new Version(1, 32), OrtLibrary.BindingsVersion);
        Assert.Contains("CPUExecutionProvider", OrtEnv.Instance().GetAvailableProviders());
    }

    [Fact]
    public void ExplicitPath_WinsOverEnvironment_AndNeitherMeansTheNuGetLibrary()
    {
        var dir = Directory.CreateTempSubdirectory("onnxsteer-rt-");
        try
        {
            var lib = Path.Combine(dir.FullName, "libonnxruntime.so");
            File.WriteAllBytes(lib, [0]);
            Assert.Equal(lib, OrtLibrary.Resolve(lib, "/nonexistent/env.so"));
            // A folder resolves to the library inside it (an ORT GPU build's folder).
            Assert.Equal(lib, OrtLibrary.Resolve(dir.FullName, null));
            Assert.Equal(lib, OrtLibrary.Resolve(null, dir.FullName));
            Assert.Null(OrtLibrary.Resolve(null, null));
            Assert.Null(OrtLibrary.Resolve("", ""));
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void MissingLibrary_MessageSaysWhereItCameFromAndHowToFix()
    {
        var missing = Path.Combine(Path.GetTempPath(), "onnxsteer-no-such-dir", "libonnxruntime.so");
        var e = Assert.Throws<RuntimeUnavailableException>(() => OrtLibrary.Resolve(missing, null));
        Assert.Contains(missing, e.Message);
        Assert.Contains("--ort-library", ErrorReporter.Message(e));
        Assert.Contains(OrtLibrary.EnvironmentVariable, e.Message);
        Assert.Equal(ExitCodes.Runtime, ErrorReporter.ExitCode(e));
        Assert.DoesNotContain('\n', e.Message);

        var empty = Directory.CreateTempSubdirectory("onnxsteer-rt-");
        try
        {
            var e2 = Assert.Throws<RuntimeUnavailableException>(() => OrtLibrary.Resolve(null, empty.FullName));
            Assert.Contains("holds none of", e2.Message);
            Assert.Contains(OrtLibrary.EnvironmentVariable, e2.Message);
        }
        finally { empty.Delete(true); }
    }

    [Fact]
    public void NotALibrary_IsReportedClearly()
    {
        var path = Path.Combine(Path.GetTempPath(), $"onnxsteer-rt-{Guid.NewGuid():N}.so");
        File.WriteAllText(path, "this is text, not ELF");
        try
        {
            Assert.Equal(0, OrtLibrary.Open(path, out var problem));
            Assert.Contains("could not be loaded", problem);
            Assert.Contains(path, problem);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void LibraryWithoutOrtGetApiBase_IsReportedClearly()
    {
        // libm is mapped into every .NET process on Linux: a real shared library that is not ONNX Runtime.
        var libm = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Last())
            .First(p => Path.GetFileName(p).StartsWith("libm.so", StringComparison.Ordinal));
        Assert.Equal(0, OrtLibrary.Open(libm, out var problem));
        Assert.Contains("does not export OrtGetApiBase", problem);
    }

    [Fact]
    public void RealLibrary_OpensAndPassesTheVersionCheck()
    {
        var handle = OrtLibrary.Open(PackageLibrary, out var problem);
        Assert.True(handle != 0, problem);
    }

    [Fact]
    public void SwitchingLibraryAfterLoad_IsRefused()
    {
        OrtLibrary.EnsureLoaded();
        var other = Path.Combine(Path.GetTempPath(), $"onnxsteer-rt-{Guid.NewGuid():N}.so");
        File.WriteAllBytes(other, [0]);
        try
        {
            var e = Assert.Throws<RuntimeUnavailableException>(() => OrtLibrary.Configure(other));
            Assert.Contains("already loaded", e.Message);
        }
        finally { File.Delete(other); }
    }
}
