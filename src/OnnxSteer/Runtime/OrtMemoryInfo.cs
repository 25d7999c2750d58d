namespace OnnxSteer.Runtime;

/// <summary>Where tensor memory lives: CPU, or a CUDA device (for binding outputs to the device with <see cref="OrtIoBinding"/>).</summary>
public sealed class OrtMemoryInfo : IDisposable
{
    private static OrtMemoryInfo? _cpu;
    internal OrtSafeHandle Handle { get; }

    /// <summary>"Cpu" or "Cuda".</summary>
    public string Name { get; }

    /// <summary>Device ordinal (0 for CPU).</summary>
    public int DeviceId { get; }

    private OrtMemoryInfo(nint handle, string name, int deviceId)
    {
        Handle = new OrtSafeHandle(handle, OrtNative.SlotReleaseMemoryInfo);
        Name = name;
        DeviceId = deviceId;
    }

    /// <summary>CPU memory (shared instance; do not dispose).</summary>
    public static OrtMemoryInfo DefaultInstance
    {
        get
        {
            if (_cpu is not null) return _cpu;
            _ = OrtEnv.Instance;
            var created = new OrtMemoryInfo(OrtNative.CreateCpuMemoryInfo(), "Cpu", 0);
            if (Interlocked.CompareExchange(ref _cpu, created, null) is not null) created.Dispose();
            return _cpu;
        }
    }

    /// <summary>Memory on CUDA device <paramref name="deviceId"/> (device allocator, default memory type).</summary>
    public static OrtMemoryInfo Cuda(int deviceId)
    {
        _ = OrtEnv.Instance;
        return new OrtMemoryInfo(OrtNative.CreateMemoryInfo("Cuda", allocatorType: 0, deviceId, memType: 0), "Cuda", deviceId);
    }

    public void Dispose()
    {
        if (!ReferenceEquals(this, _cpu)) Handle.Dispose();
    }
}
