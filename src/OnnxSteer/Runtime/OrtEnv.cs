namespace OnnxSteer.Runtime;

/// <summary>
/// The process-wide ONNX Runtime environment (one OrtEnv per process, as ORT requires). Created on first use with
/// log level <see cref="OrtLoggingLevel.Error"/> so that ORT's own warnings do not clutter the tool's output;
/// call <see cref="Configure"/> before first use to choose another level.
/// </summary>
public sealed class OrtEnv
{
    private static readonly object Gate = new();
    private static OrtEnv? _instance;
    private static OrtLoggingLevel _level = OrtLoggingLevel.Error;

    internal OrtSafeHandle Handle { get; }

    /// <summary>The log level the environment was created with.</summary>
    public OrtLoggingLevel LogLevel { get; }

    private OrtEnv(OrtLoggingLevel level)
    {
        LogLevel = level;
        Handle = new OrtSafeHandle(OrtNative.CreateEnv(level, "onnxsteer"), OrtNative.SlotReleaseEnv);
    }

    /// <summary>The environment, created (and the library loaded) on first use.</summary>
    public static OrtEnv Instance
    {
        get
        {
            if (_instance is not null) return _instance;
            lock (Gate) return _instance ??= new OrtEnv(_level);
        }
    }

    /// <summary>Sets the log level for the environment created later; no effect once created.</summary>
    public static void Configure(OrtLoggingLevel level)
    {
        lock (Gate) _level = level;
    }

    /// <summary>Execution providers compiled into the loaded library (not necessarily loadable: CUDA needs its provider libraries).</summary>
    public IReadOnlyList<string> GetAvailableProviders() => OrtNative.GetAvailableProviders();

    /// <summary>ONNX Runtime's version string.</summary>
    public string Version => OrtLibrary.Version;
}
