using System.Runtime.InteropServices;

namespace OnnxSteer.Runtime;

/// <summary>
/// Owns one ONNX Runtime object and releases it exactly once through its Release slot (SafeHandle guarantees a single
/// ReleaseHandle even with Dispose racing the finalizer). A tensor made over managed memory also owns the pin on that
/// memory, freed only after ORT has released the tensor.
/// </summary>
internal sealed class OrtSafeHandle : SafeHandle
{
    private static long _live;
    private readonly int _releaseSlot;
    private GCHandle _pin;

    /// <summary>ORT objects created and not yet released, across the process (a leak check for tests).</summary>
    internal static long LiveCount => Interlocked.Read(ref _live);

    internal OrtSafeHandle(nint handle, int releaseSlot, GCHandle pin = default) : base(0, ownsHandle: true)
    {
        _releaseSlot = releaseSlot;
        _pin = pin;
        SetHandle(handle);
        Interlocked.Increment(ref _live);
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>The raw pointer; throws when the owner was disposed.</summary>
    internal nint Pointer => IsClosed ? throw new ObjectDisposedException("ONNX Runtime object") : handle;

    protected override bool ReleaseHandle()
    {
        OrtNative.Release(_releaseSlot, handle);
        if (_pin.IsAllocated) _pin.Free();
        Interlocked.Decrement(ref _live);
        return true;
    }
}
