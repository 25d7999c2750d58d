using OnnxSteer.Runtime;
using Xunit;

namespace OnnxSteer.Tests.Runtime;

public class OrtLibraryTests
{
    [Fact]
    public void LoadedLibrary_ReportsVersionAndApi()
    {
        _ = OrtEnv.Instance;
        Assert.NotNull(OrtLibrary.LoadedPath);
        Assert.True(File.Exists(OrtLibrary.LoadedPath));
        Assert.Matches(@"^\d+\.\d+\.\d+", OrtLibrary.Version);
        Assert.Contains("CPUExecutionProvider", OrtEnv.Instance.GetAvailableProviders());
    }

    [Fact]
    public void ExplicitPath_WinsOverEnvironmentAndDefault()
    {
        var dir = Directory.CreateTempSubdirectory("onnxsteer-rt-");
        try
        {
            var lib = Path.Combine(dir.FullName, "libonnxruntime.so.1");
            File.WriteAllBytes(lib, [0]);
            Assert.Equal(lib, OrtLibrary.Resolve(lib, "/nonexistent/env.so", "/"));
            // A folder resolves to the library inside it (an ORT GPU build's folder).
            Assert.Equal(lib, OrtLibrary.Resolve(dir.FullName, null, "/"));
            Assert.Equal(lib, OrtLibrary.Resolve(null, dir.FullName, "/"));
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void DefaultSearch_WalksUpToRuntimesFolder()
    {
        var root = Directory.CreateTempSubdirectory("onnxsteer-rt-");
        try
        {
            var runtimes = Directory.CreateDirectory(Path.Combine(root.FullName, "runtimes", OrtLibrary.RuntimeFolder));
            var lib = Path.Combine(runtimes.FullName, OrtLibrary.FileNames[0]);
            File.WriteAllBytes(lib, [0]);
            var deep = Directory.CreateDirectory(Path.Combine(root.FullName, "src", "bin", "Release"));
            Assert.Equal(lib, OrtLibrary.Resolve(null, null, deep.FullName));
        }
        finally { root.Delete(true); }
    }

    [Fact]
    public void MissingLibrary_MessageSaysWhereItLookedAndHowToFix()
    {
        var missing = Path.Combine(Path.GetTempPath(), "onnxsteer-no-such-dir", "libonnxruntime.so.1");
        var e = Assert.Throws<RuntimeUnavailableException>(() => OrtLibrary.Resolve(missing, null, "/"));
        Assert.Contains(missing, e.Message);
        Assert.Contains("--ort-library", e.Message);
        Assert.Contains("make setup", e.Message);
        Assert.Contains(OrtLibrary.EnvironmentVariable, e.Message);
        Assert.DoesNotContain('\n', e.Message);

        var empty = Directory.CreateTempSubdirectory("onnxsteer-rt-");
        try
        {
            var e2 = Assert.Throws<RuntimeUnavailableException>(() => OrtLibrary.Resolve(null, null, empty.FullName));
            Assert.Contains(Path.Combine(empty.FullName, "runtimes", OrtLibrary.RuntimeFolder, OrtLibrary.FileNames[0]), e2.Message);
            Assert.Contains("is not set", e2.Message);
            var e3 = Assert.Throws<RuntimeUnavailableException>(() => OrtLibrary.Resolve(null, empty.FullName, "/"));
            Assert.Contains("holds none of", e3.Message);
        }
        finally { empty.Delete(true); }
    }

    [Fact]
    public unsafe void NotALibrary_IsReportedClearly()
    {
        var path = Path.Combine(Path.GetTempPath(), $"onnxsteer-rt-{Guid.NewGuid():N}.so");
        File.WriteAllText(path, "this is text, not ELF");
        try
        {
            Assert.True(OrtLibrary.Open(path, out _, out var problem) == null);
            Assert.Contains("could not be loaded", problem);
            Assert.Contains(path, problem);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public unsafe void LibraryWithoutOrtGetApiBase_IsReportedClearly()
    {
        // libm is mapped into every .NET process on Linux: a real shared library that is not ONNX Runtime.
        var libm = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Last())
            .First(p => Path.GetFileName(p).StartsWith("libm.so", StringComparison.Ordinal));
        Assert.True(OrtLibrary.Open(libm, out _, out var problem) == null);
        Assert.Contains("does not export OrtGetApiBase", problem);
    }

    [Fact]
    public unsafe void RealLibrary_OpensWithRequiredApiVersion()
    {
        _ = OrtEnv.Instance;
        var api = OrtLibrary.Open(OrtLibrary.LoadedPath!, out var version, out var problem);
        Assert.True(api != null, problem);
        Assert.Equal(OrtLibrary.Version, version);
    }

    [Fact]
    public void SwitchingLibraryAfterLoad_IsRefused()
    {
        _ = OrtEnv.Instance;
        OrtLibrary.Configure(OrtLibrary.LoadedPath); // same file: fine
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
