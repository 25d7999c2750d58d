using System.Runtime.InteropServices;

namespace OnnxSteer.Runtime;

/// <summary>
/// Finds and loads the ONNX Runtime shared library once per process.
/// Where it looks, first match wins: the path given to <see cref="Configure"/> (the CLI's <c>--ort-library</c>),
/// then <c>$ONNXSTEER_ORT_LIBRARY</c>, then <c>runtimes/&lt;rid&gt;/libonnxruntime.so.1</c> in the application folder
/// or any folder above it (the repository's <c>make setup</c> puts it there). A path may name the library file or the
/// folder holding it (e.g. an ONNX Runtime GPU build with its provider libraries beside it).
/// </summary>
public static unsafe class OrtLibrary
{
    /// <summary>Environment variable naming the library (file or folder).</summary>
    public const string EnvironmentVariable = "ONNXSTEER_ORT_LIBRARY";

    /// <summary>The OrtApi version requested: every slot this binding calls exists from ONNX Runtime 1.16 on.</summary>
    public const uint RequiredApiVersion = 16;

    private static readonly object Gate = new();
    private static string? _configuredPath;
    private static nint* _api;
    private static string? _loadedPath;
    private static string? _version;

    /// <summary>The file the library was loaded from; null until first use.</summary>
    public static string? LoadedPath => _loadedPath;

    /// <summary>ONNX Runtime's version string (e.g. "1.30.0"); loads the library if needed.</summary>
    public static string Version { get { EnsureLoaded(); return _version!; } }

    /// <summary>
    /// Chooses the library to load (an explicit <c>--ort-library</c>); null keeps the default search.
    /// Once a library is loaded it stays for the process: asking for a different one then is an error.
    /// </summary>
    public static void Configure(string? path)
    {
        lock (Gate)
        {
            if (string.IsNullOrEmpty(path)) return;
            if (_api != null)
            {
                var wanted = ResolveFile(Path.GetFullPath(path));
                if (wanted is not null && SameFile(wanted, _loadedPath!)) return;
                throw new RuntimeUnavailableException(
                    $"ONNX Runtime is already loaded from {_loadedPath}; cannot switch to {path} in the same process");
            }
            _configuredPath = path;
        }
    }

    /// <summary>The OrtApi function table, loading the library on first use.</summary>
    internal static nint* Api => _api != null ? _api : EnsureLoaded();

    /// <summary>Loads the library if it is not loaded yet; throws <see cref="RuntimeUnavailableException"/> with one clear message otherwise.</summary>
    public static nint* EnsureLoaded()
    {
        if (_api != null) return _api;
        lock (Gate)
        {
            if (_api != null) return _api;
            var path = Resolve(_configuredPath, Environment.GetEnvironmentVariable(EnvironmentVariable), AppContext.BaseDirectory);
            var api = Open(path, out var version, out var problem);
            if (api == null) throw new RuntimeUnavailableException(problem! + " " + FixHint);
            _version = version;
            _loadedPath = path;
            _api = api;
            return api;
        }
    }

    /// <summary>How to fix a missing or unusable library, appended to every such message.</summary>
    public const string FixHint =
        "Run `make setup` in the repository (it fetches ONNX Runtime 1.30 into runtimes/linux-x64/), or point --ort-library or "
        + EnvironmentVariable + " at a libonnxruntime.so.1 (or the folder holding it).";

    /// <summary>
    /// Picks the library file: explicit path, else the environment value, else the default search from
    /// <paramref name="baseDirectory"/> upwards. Throws naming every place looked at when nothing is found.
    /// </summary>
    public static string Resolve(string? explicitPath, string? environmentValue, string baseDirectory)
    {
        if (!string.IsNullOrEmpty(explicitPath)) return ResolveGiven(explicitPath, "--ort-library");
        if (!string.IsNullOrEmpty(environmentValue)) return ResolveGiven(environmentValue, EnvironmentVariable);
        var looked = new List<string>();
        for (var dir = new DirectoryInfo(Path.GetFullPath(baseDirectory)); dir is not null; dir = dir.Parent)
        {
            var folder = Path.Combine(dir.FullName, "runtimes", RuntimeFolder);
            var file = ResolveFile(folder);
            if (file is not null) return file;
            looked.Add(Path.Combine(folder, FileNames[0]));
        }
        throw new RuntimeUnavailableException(
            $"ONNX Runtime library not found: {EnvironmentVariable} is not set and none of {string.Join(", ", looked)} exists. {FixHint}");
    }

    private static string ResolveGiven(string given, string source)
    {
        var full = Path.GetFullPath(given);
        var file = ResolveFile(full);
        if (file is not null) return file;
        var what = Directory.Exists(full)
            ? $"the folder {full} (from {source}) holds none of {string.Join(", ", FileNames)}"
            : $"{full} (from {source}) does not exist";
        throw new RuntimeUnavailableException($"ONNX Runtime library not found: {what}. {FixHint}");
    }

    /// <summary>A file path as is, or the first known library name inside a folder; null when neither exists.</summary>
    private static string? ResolveFile(string fileOrFolder)
    {
        if (File.Exists(fileOrFolder)) return fileOrFolder;
        if (!Directory.Exists(fileOrFolder)) return null;
        return FileNames.Select(n => Path.Combine(fileOrFolder, n)).FirstOrDefault(File.Exists);
    }

    /// <summary>The library's file names on this OS, preferred first.</summary>
    public static IReadOnlyList<string> FileNames { get; } =
        OperatingSystem.IsWindows() ? ["onnxruntime.dll"]
        : OperatingSystem.IsMacOS() ? ["libonnxruntime.dylib"]
        : ["libonnxruntime.so.1", "libonnxruntime.so"];

    /// <summary>The runtimes sub-folder for this platform, e.g. linux-x64.</summary>
    public static string RuntimeFolder { get; } =
        (OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux") + "-"
        + RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();

    /// <summary>
    /// Loads <paramref name="path"/> and fetches its OrtApi table without touching the process-wide state.
    /// Returns null and a one-line <paramref name="problem"/> when the file cannot be loaded, has no OrtGetApiBase,
    /// or does not offer <see cref="RequiredApiVersion"/>.
    /// </summary>
    internal static nint* Open(string path, out string? version, out string? problem)
    {
        version = null;
        if (!NativeLibrary.TryLoad(path, out var lib))
        {
            problem = $"ONNX Runtime library {path} could not be loaded (not a shared library for this platform, or a dependency is missing; `ldd {path}` tells which).";
            return null;
        }
        if (!NativeLibrary.TryGetExport(lib, "OrtGetApiBase", out var getApiBase))
        {
            problem = $"{path} is not an ONNX Runtime library: it does not export OrtGetApiBase.";
            return null;
        }
        // OrtApiBase is { const OrtApi* (*GetApi)(uint32_t version); const char* (*GetVersionString)(void); }.
        var apiBase = ((delegate* unmanaged<nint*>)getApiBase)();
        if (apiBase == null)
        {
            problem = $"{path}: OrtGetApiBase returned nothing.";
            return null;
        }
        var versionPtr = ((delegate* unmanaged<byte*>)apiBase[1])();
        version = versionPtr == null ? "unknown" : Marshal.PtrToStringUTF8((nint)versionPtr) ?? "unknown";
        var api = ((delegate* unmanaged<uint, nint*>)apiBase[0])(RequiredApiVersion);
        if (api == null)
        {
            problem = $"{path} is ONNX Runtime {version}, which does not offer API version {RequiredApiVersion}; OnnxSteer needs ONNX Runtime 1.16 or newer.";
            return null;
        }
        problem = null;
        return api;
    }

    private static bool SameFile(string a, string b) =>
        string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), StringComparison.Ordinal);
}
