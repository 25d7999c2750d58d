using System.Reflection;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Runtime;

/// <summary>
/// Which ONNX Runtime native library the Microsoft.ML.OnnxRuntime bindings load, once per process. By default the one
/// restored from NuGet with OnnxSteer (Microsoft.ML.OnnxRuntime for CPU, or Microsoft.ML.OnnxRuntime.Gpu.Linux in the CUDA
/// build). A build of one's own is chosen with <see cref="Configure"/> (the CLI's <c>--ort-library</c>) or
/// <c>$ONNXSTEER_ORT_LIBRARY</c>: a libonnxruntime.so file or the folder holding it, hooked in with
/// <see cref="NativeLibrary.SetDllImportResolver"/> on the bindings' assembly before their first call.
/// </summary>
internal static unsafe class OrtLibrary
{
    /// <summary>Environment variable naming the library (file or folder).</summary>
    public const string EnvironmentVariable = "ONNXSTEER_ORT_LIBRARY";

    /// <summary>The name the bindings import (<c>[DllImport("onnxruntime")]</c>).</summary>
    private const string ImportName = "onnxruntime";

    private static readonly object Gate = new();
    private static string? _configuredPath;
    private static string? _loadedPath;
    private static nint _handle;
    private static bool _loaded;

    /// <summary>The library file chosen with --ort-library or the environment; null while the NuGet package's library is used.</summary>
    public static string? LoadedPath => _loadedPath;

    /// <summary>ONNX Runtime's version string (e.g. "1.32.0"); loads the library if needed.</summary>
    public static string Version
    {
        get
        {
            EnsureLoaded();
            return OrtEnv.Instance().GetVersionString();
        }
    }

    /// <summary>The version of the Microsoft.ML.OnnxRuntime bindings: a library of one's own must be at least this new.</summary>
    public static Version BindingsVersion { get; } =
        typeof(OrtEnv).Assembly.GetName().Version is { } v ? new Version(v.Major, v.Minor) : new Version(1, 0);

    /// <summary>
    /// Chooses the library to load (an explicit <c>--ort-library</c>); null or empty keeps the default.
    /// Once a library is loaded it stays for the process: asking for a different one then is an error.
    /// </summary>
    public static void Configure(string? path)
    {
        if (string.IsNullOrEmpty(path)) return;
        lock (Gate)
        {
            if (_loaded)
            {
                var wanted = ResolveFile(Path.GetFullPath(path));
                if (wanted is not null && _loadedPath is not null && SameFile(wanted, _loadedPath)) return;
                throw new RuntimeUnavailableException(
                    $"ONNX Runtime is already loaded from {_loadedPath ?? "the Microsoft.ML.OnnxRuntime package"}; cannot switch to {path} in the same process");
            }
            _configuredPath = path;
        }
    }

    /// <summary>
    /// Loads the library if it is not loaded yet and creates the process's ORT environment (log level Error, so ORT's
    /// warnings do not clutter the tool's output). Throws <see cref="RuntimeUnavailableException"/> with one clear message
    /// when the library cannot be used.
    /// </summary>
    public static void EnsureLoaded()
    {
        if (_loaded) return;
        lock (Gate)
        {
            if (_loaded) return;
            var path = Resolve(_configuredPath, Environment.GetEnvironmentVariable(EnvironmentVariable));
            if (path is not null)
            {
                var handle = Open(path, out var problem);
                if (handle == 0) throw new RuntimeUnavailableException($"{problem} {FixHint}");
                try
                {
                    NativeLibrary.SetDllImportResolver(typeof(OrtEnv).Assembly,
                        (name, _, _) => name == ImportName ? _handle : 0);
                }
                catch (InvalidOperationException)
                {
                    throw new RuntimeUnavailableException(
                        $"cannot use {path}: the application already set a native library resolver for Microsoft.ML.OnnxRuntime");
                }
                _handle = handle;
                _loadedPath = path;
            }
            CreateEnvironment();
            _loaded = true;
        }
    }

    private static void CreateEnvironment()
    {
        try
        {
            if (OrtEnv.IsCreated) return;
            var options = new EnvironmentCreationOptions { logId = "onnxsteer", logLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
            OrtEnv.CreateInstanceWithOptions(ref options);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException or BadImageFormatException)
        {
            throw new RuntimeUnavailableException(
                $"the ONNX Runtime native library could not be loaded ({(e.InnerException ?? e).Message.ReplaceLineEndings(" ")}). {FixHint}", e);
        }
        catch (OnnxRuntimeException e)
        {
            throw new OrtException(e, "creating the ONNX Runtime environment");
        }
    }

    /// <summary>How to fix a missing or unusable library, appended to every such message.</summary>
    public static ErrorText FixHint =>
        $"OnnxSteer brings ONNX Runtime from NuGet (Microsoft.ML.OnnxRuntime); to use a build of your own, point {Param("ortLibrary")} or " +
        $"{EnvironmentVariable} at its libonnxruntime.so (or the folder holding it).";

    /// <summary>
    /// The library file to load: the explicit path, else the environment value, else null (the NuGet package's library).
    /// Throws naming the path and where it came from when it does not exist.
    /// </summary>
    public static string? Resolve(string? explicitPath, string? environmentValue)
    {
        if (!string.IsNullOrEmpty(explicitPath)) return ResolveGiven(explicitPath, $"{Param("ortLibrary")}");
        if (!string.IsNullOrEmpty(environmentValue)) return ResolveGiven(environmentValue, EnvironmentVariable);
        return null;
    }

    private static string ResolveGiven(string given, ErrorText source)
    {
        var full = Path.GetFullPath(given);
        var file = ResolveFile(full);
        if (file is not null) return file;
        // One constructor call per branch: a conditional of interpolated strings would be a plain string, losing the mentions.
        throw Directory.Exists(full)
            ? new RuntimeUnavailableException($"ONNX Runtime library not found: the folder {full} (from {source}) holds none of {string.Join(", ", FileNames)}. {FixHint}")
            : new RuntimeUnavailableException($"ONNX Runtime library not found: {full} (from {source}) does not exist. {FixHint}");
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
        : ["libonnxruntime.so", "libonnxruntime.so.1"];

    /// <summary>
    /// Loads <paramref name="path"/> and checks it is an ONNX Runtime at least as new as the bindings, without touching the
    /// process-wide state. Returns the library handle, or 0 and a one-line <paramref name="problem"/> when the file cannot
    /// be loaded, has no OrtGetApiBase, or is too old.
    /// </summary>
    internal static nint Open(string path, out string? problem)
    {
        if (!NativeLibrary.TryLoad(path, out var lib))
        {
            problem = $"ONNX Runtime library {path} could not be loaded (not a shared library for this platform, or a dependency is missing; `ldd {path}` tells which).";
            return 0;
        }
        if (!NativeLibrary.TryGetExport(lib, "OrtGetApiBase", out var getApiBase))
        {
            NativeLibrary.Free(lib);
            problem = $"{path} is not an ONNX Runtime library: it does not export OrtGetApiBase.";
            return 0;
        }
        // OrtApiBase is { const OrtApi* (*GetApi)(uint32_t version); const char* (*GetVersionString)(void); }.
        var apiBase = ((delegate* unmanaged<nint*>)getApiBase)();
        var versionPtr = apiBase == null ? null : ((delegate* unmanaged<byte*>)apiBase[1])();
        var version = versionPtr == null ? null : Marshal.PtrToStringUTF8((nint)versionPtr);
        if (!System.Version.TryParse(version, out var parsed) || new Version(parsed.Major, parsed.Minor) < BindingsVersion)
        {
            NativeLibrary.Free(lib);
            problem = $"{path} is ONNX Runtime {version ?? "of unknown version"}; the Microsoft.ML.OnnxRuntime {BindingsVersion} bindings OnnxSteer uses need ONNX Runtime {BindingsVersion} or newer.";
            return 0;
        }
        problem = null;
        return lib;
    }

    private static bool SameFile(string a, string b) =>
        string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), StringComparison.Ordinal);
}
