namespace OnnxSteer.Runtime;

/// <summary>Per-run options; <see cref="Terminate"/> asks runs using these options to stop (e.g. on Ctrl-C).</summary>
public sealed class RunOptions : IDisposable
{
    internal OrtSafeHandle Handle { get; }

    public RunOptions()
    {
        _ = OrtEnv.Instance;
        Handle = new OrtSafeHandle(OrtNative.CreateHandle(OrtNative.SlotCreateRunOptions), OrtNative.SlotReleaseRunOptions);
    }

    /// <summary>Minimum severity of ORT's log messages for runs with these options.</summary>
    public OrtLoggingLevel LogSeverityLevel
    {
        set => OrtNative.CallWithInt(OrtNative.SlotRunOptionsSetRunLogSeverityLevel, Handle.Pointer, (int)value);
    }

    /// <summary>Makes current and later runs with these options fail fast (ORT checks the flag between nodes).</summary>
    public void Terminate() => OrtNative.CallWithHandle(OrtNative.SlotRunOptionsSetTerminate, Handle.Pointer);

    /// <summary>Clears <see cref="Terminate"/>.</summary>
    public void ResetTerminate() => OrtNative.CallWithHandle(OrtNative.SlotRunOptionsUnsetTerminate, Handle.Pointer);

    public void Dispose() => Handle.Dispose();
}
