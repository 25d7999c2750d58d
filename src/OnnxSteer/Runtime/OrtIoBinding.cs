namespace OnnxSteer.Runtime;

/// <summary>
/// Binds a session's inputs and outputs ahead of a run. Outputs bound to a device (<see cref="BindOutputToDevice"/>)
/// stay where they are produced, so a KV cache on a GPU is fed back without a round trip through host memory.
/// Bound inputs must stay alive (undisposed) until the binding is cleared or disposed.
/// </summary>
public sealed class OrtIoBinding : IDisposable
{
    internal OrtSafeHandle Handle { get; }
    private readonly InferenceSession _session;
    // Keeps bound inputs and outputs referenced so the GC cannot finalize them while ORT points at them.
    private readonly Dictionary<string, OrtValue> _boundInputs = new(StringComparer.Ordinal);
    private readonly List<string> _boundOutputs = [];

    internal OrtIoBinding(InferenceSession session)
    {
        _session = session;
        Handle = new OrtSafeHandle(OrtNative.GetHandleFromHandle(OrtNative.SlotCreateIoBinding, session.Handle.Pointer), OrtNative.SlotReleaseIoBinding);
    }

    /// <summary>Binds input <paramref name="name"/> to <paramref name="value"/> (no copy on CPU).</summary>
    public void BindInput(string name, OrtValue value)
    {
        OrtNative.BindValue(OrtNative.SlotBindInput, Handle.Pointer, name, value.Handle.Pointer);
        _boundInputs[name] = value;
    }

    /// <summary>Binds output <paramref name="name"/> to a preallocated value that the run writes into.</summary>
    public void BindOutput(string name, OrtValue value)
    {
        OrtNative.BindValue(OrtNative.SlotBindOutput, Handle.Pointer, name, value.Handle.Pointer);
        _boundOutputs.Add(name);
        _boundInputs["\0out:" + name] = value;
    }

    /// <summary>Binds output <paramref name="name"/> to be allocated by ORT on <paramref name="memoryInfo"/>'s device.</summary>
    public void BindOutputToDevice(string name, OrtMemoryInfo memoryInfo)
    {
        OrtNative.BindValue(OrtNative.SlotBindOutputToDevice, Handle.Pointer, name, memoryInfo.Handle.Pointer);
        _boundOutputs.Add(name);
    }

    /// <summary>Names of the bound outputs, in binding order (the order of <see cref="GetOutputValues"/>).</summary>
    public IReadOnlyList<string> BoundOutputNames => _boundOutputs;

    /// <summary>The outputs of the last run, in binding order; the caller owns (disposes) them.</summary>
    public RunOutputs GetOutputValues()
    {
        var ptrs = OrtNative.GetBoundOutputValues(Handle.Pointer);
        var values = ptrs.Select(OrtValue.FromOwnedPointer).ToArray();
        return new RunOutputs(_boundOutputs.Take(values.Length).ToArray(), values);
    }

    /// <summary>Unbinds all inputs.</summary>
    public void ClearBoundInputs()
    {
        OrtNative.ClearBound(OrtNative.SlotClearBoundInputs, Handle.Pointer);
        foreach (var key in _boundInputs.Keys.Where(k => !k.StartsWith('\0')).ToList()) _boundInputs.Remove(key);
    }

    /// <summary>Unbinds all outputs.</summary>
    public void ClearBoundOutputs()
    {
        OrtNative.ClearBound(OrtNative.SlotClearBoundOutputs, Handle.Pointer);
        foreach (var key in _boundInputs.Keys.Where(k => k.StartsWith('\0')).ToList()) _boundInputs.Remove(key);
        _boundOutputs.Clear();
    }

    /// <summary>The session this binding belongs to.</summary>
    public InferenceSession Session => _session;

    public void Dispose()
    {
        Handle.Dispose();
        _boundInputs.Clear();
    }
}
