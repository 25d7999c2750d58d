using System.IO.Compression;
using System.Reflection;
using System.Xml.Linq;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Packaging;

/// <summary>
/// What <c>make pack</c> produces, checked the way a user meets it: the library package carries its XML docs, and the
/// tool package installs with <c>dotnet tool install --add-source</c> and runs, its bundled ONNX Runtime included.
/// Packs the already-built Release/Debug output (<c>--no-build</c>), so it costs seconds, not a build.
/// </summary>
public sealed class PackagingTests : IDisposable
{
    private readonly string _tmp = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "onnxsteer-pack-" + Guid.NewGuid().ToString("N"))).FullName;

    public void Dispose()
    {
        try { Directory.Delete(_tmp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Release or Debug: the configuration these tests were built in.</summary>
    private static string Configuration =>
        AppContext.BaseDirectory.Split(Path.DirectorySeparatorChar).Contains("Debug") ? "Debug" : "Release";

    private static string Version => typeof(OnnxSteer.OnnxSteerException).Assembly.GetName().Version!.ToString(3);

    private string Pack(string project)
    {
        var output = Path.Combine(_tmp, "artifacts");
        var (code, stdout, stderr) = CliProcess.Exec("dotnet", SharedData.RepoRoot,
            ["pack", project, "-c", Configuration, "--no-build", "-o", output, "--nologo", "-v:q"]);
        Assert.True(code == 0, $"dotnet pack {project} failed ({code}):\n{stdout}\n{stderr}");
        var id = Path.GetFileNameWithoutExtension(project);
        var package = Path.Combine(output, $"{id}.{Version}.nupkg");
        Assert.True(File.Exists(package), $"no {package}");
        return package;
    }

    [Fact]
    public void Library_package_carries_the_assembly_and_its_xml_docs()
    {
        using var zip = ZipFile.OpenRead(Pack("src/OnnxSteer/OnnxSteer.csproj"));
        Assert.NotNull(zip.GetEntry("lib/net10.0/OnnxSteer.dll"));
        // ONNX Runtime comes as NuGet dependencies (bindings + CPU natives), not inside the package.
        using (var nuspec = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open())
        {
            var deps = XDocument.Load(nuspec).Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => (string?)e.Attribute("id")).ToList();
            Assert.Contains("Microsoft.ML.OnnxRuntime.Managed", deps);
            Assert.Contains("Microsoft.ML.OnnxRuntime", deps);
        }
        Assert.DoesNotContain(zip.Entries, e => e.Name.StartsWith("libonnxruntime", StringComparison.Ordinal));
        var docs = zip.GetEntry("lib/net10.0/OnnxSteer.xml");
        Assert.NotNull(docs);
        using var stream = docs!.Open();
        var members = XDocument.Load(stream).Descendants("member").Select(m => (string?)m.Attribute("name")).ToHashSet();
        // Public entry points a library user starts from are documented.
        foreach (var type in new[] { "OnnxSteer.Patching.GraphPatcher", "OnnxSteer.Patching.SwitchableSteering",
                     "OnnxSteer.ModelFiles.OnnxModel", "OnnxSteer.Runtime.RuntimeSettings", "OnnxSteer.Generation.DecoderModel" })
            Assert.Contains("T:" + type, members);
    }

    [SharedFact]
    public void Tool_installs_from_the_local_package_and_runs_with_its_bundled_runtime()
    {
        var package = Pack("src/OnnxSteer.Cli/OnnxSteer.Cli.csproj");
        using (var zip = ZipFile.OpenRead(package))
            Assert.NotNull(zip.GetEntry("tools/net10.0/any/runtimes/linux-x64/native/libonnxruntime.so")); // from Microsoft.ML.OnnxRuntime

        var toolPath = Path.Combine(_tmp, "tools");
        var (code, stdout, stderr) = CliProcess.Exec("dotnet", _tmp,
            ["tool", "install", "OnnxSteer.Cli", "--tool-path", toolPath, "--add-source", Path.GetDirectoryName(package)!, "--version", Version]);
        Assert.True(code == 0, $"dotnet tool install failed ({code}):\n{stdout}\n{stderr}");

        var onnxsteer = Path.Combine(toolPath, "onnxsteer");
        // Without the environment variable, the runtime must come from the package.
        void Isolated(System.Diagnostics.ProcessStartInfo psi) => psi.Environment.Remove("ONNXSTEER_ORT_LIBRARY");
        (code, stdout, stderr) = CliProcess.Exec(onnxsteer, _tmp, ["--version"], Isolated);
        Assert.True(code == 0, stderr);
        Assert.StartsWith(Version, stdout.Trim());

        var model = ImportedModels.Get("genai", "fp32");
        (code, stdout, stderr) = CliProcess.Exec(onnxsteer, _tmp, ["generate", model, "--prompt", "Once upon a time", "--max-new-tokens", "8"], Isolated);
        Assert.True(code == 0, $"installed onnxsteer generate failed ({code}): {stderr}");
        Assert.StartsWith("Once upon a time", stdout);
    }
}
