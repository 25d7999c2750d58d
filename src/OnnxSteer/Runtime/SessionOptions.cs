namespace OnnxSteer.Runtime;

/// <summary>Options for creating an <see cref="InferenceSession"/>: threads, optimisation, logging, config entries, execution providers.</summary>
public sealed class SessionOptions : IDisposable
{
    internal OrtSafeHandle Handle { get; }
    private readonly List<string> _providers = [];
    private int _intra, _inter, _logLevel = (int)OrtLoggingLevel.Error;
    private GraphOptimizationLevel _optLevel = GraphOptimizationLevel.EnableAll;

    /// <summary>Creates default options (ORT's defaults, session log level Error).</summary>
    public SessionOptions()
    {
        _ = OrtEnv.Instance; // the library must be loaded and an env exist before any other object
        Handle = new OrtSafeHandle(OrtNative.CreateHandle(OrtNative.SlotCreateSessionOptions), OrtNative.SlotReleaseSessionOptions);
        LogSeverityLevel = OrtLoggingLevel.Error;
    }

    private SessionOptions(OrtSafeHandle handle, SessionOptions from)
    {
        Handle = handle;
        _providers.AddRange(from._providers);
        (_intra, _inter, _logLevel, _optLevel) = (from._intra, from._inter, from._logLevel, from._optLevel);
    }

    /// <summary>A copy, including config entries and providers already appended.</summary>
    public SessionOptions Clone() =>
        new(new OrtSafeHandle(OrtNative.GetHandleFromHandle(OrtNative.SlotCloneSessionOptions, Handle.Pointer), OrtNative.SlotReleaseSessionOptions), this);

    /// <summary>Threads used inside one operator (0 = ORT's default: one per physical core).</summary>
    public int IntraOpNumThreads
    {
        get => _intra;
        set { OrtNative.CallWithInt(OrtNative.SlotSetIntraOpNumThreads, Handle.Pointer, value); _intra = value; }
    }

    /// <summary>Threads used across operators (0 = ORT's default).</summary>
    public int InterOpNumThreads
    {
        get => _inter;
        set { OrtNative.CallWithInt(OrtNative.SlotSetInterOpNumThreads, Handle.Pointer, value); _inter = value; }
    }

    /// <summary>Graph optimisation level (default: all).</summary>
    public GraphOptimizationLevel GraphOptimizationLevel
    {
        get => _optLevel;
        set { OrtNative.CallWithInt(OrtNative.SlotSetGraphOptimizationLevel, Handle.Pointer, (int)value); _optLevel = value; }
    }

    /// <summary>Minimum severity of ORT's log messages for sessions made with these options.</summary>
    public OrtLoggingLevel LogSeverityLevel
    {
        get => (OrtLoggingLevel)_logLevel;
        set { OrtNative.CallWithInt(OrtNative.SlotSetSessionLogSeverityLevel, Handle.Pointer, (int)value); _logLevel = (int)value; }
    }

    /// <summary>Turns ORT's CPU memory arena on or off (on by default).</summary>
    public bool EnableCpuMemArena
    {
        set => OrtNative.CallWithHandle(value ? OrtNative.SlotEnableCpuMemArena : OrtNative.SlotDisableCpuMemArena, Handle.Pointer);
    }

    /// <summary>Adds a session configuration entry (keys in ORT's onnxruntime_session_options_config_keys.h).</summary>
    public void AddSessionConfigEntry(string key, string value) => OrtNative.AddSessionConfigEntry(Handle.Pointer, key, value);

    /// <summary>
    /// Appends the CUDA execution provider (V2 options) on <paramref name="deviceId"/>. Throws
    /// <see cref="ExecutionProviderUnavailableException"/> naming the provider libraries when they cannot load.
    /// </summary>
    public void AppendExecutionProvider_CUDA(int deviceId = 0)
    {
        if (deviceId < 0) throw new ArgumentOutOfRangeException(nameof(deviceId), "device id must be >= 0");
        try
        {
            OrtNative.AppendCudaV2(Handle.Pointer, new Dictionary<string, string> { ["device_id"] = deviceId.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
        catch (OrtException e)
        {
            throw new ExecutionProviderUnavailableException(ExecutionProviders.CudaUnavailableMessage(e.OrtMessage), e);
        }
        _providers.Add("CUDAExecutionProvider");
    }

    /// <summary>Execution providers appended so far, in priority order (CPU is always the implicit last).</summary>
    public IReadOnlyList<string> AppendedProviders => _providers;

    public void Dispose() => Handle.Dispose();
}
