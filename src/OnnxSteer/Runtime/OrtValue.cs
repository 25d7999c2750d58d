using System.Runtime.InteropServices;

namespace OnnxSteer.Runtime;

/// <summary>
/// An ONNX Runtime value (a tensor here). Either wraps managed memory without copying (the array stays pinned until
/// disposal), or memory ORT allocated (run outputs, <see cref="CreateAllocatedTensorValue"/>). Dispose it; the
/// finalizer releases it otherwise.
/// </summary>
public sealed unsafe class OrtValue : IDisposable
{
    internal OrtSafeHandle Handle { get; }
    private TensorInfo? _info;

    internal OrtValue(OrtSafeHandle handle) => Handle = handle;

    /// <summary>Wraps a native OrtValue pointer whose ownership passes to the new object.</summary>
    internal static OrtValue FromOwnedPointer(nint value) => new(new OrtSafeHandle(value, OrtNative.SlotReleaseValue));

    /// <summary>
    /// A tensor over <paramref name="data"/> without copying: ORT reads and writes the array itself, which stays pinned
    /// until this value is disposed. <paramref name="data"/> must hold exactly the shape's element count.
    /// </summary>
    public static OrtValue CreateTensorValueFromMemory<T>(T[] data, ReadOnlySpan<long> shape) where T : unmanaged =>
        CreateTensorValueFromMemory(new ArraySegment<T>(data), shape);

    /// <summary>A tensor over an array-backed <see cref="Memory{T}"/> (pinned until disposal); other memory is copied.</summary>
    public static OrtValue CreateTensorValueFromMemory<T>(Memory<T> data, ReadOnlySpan<long> shape) where T : unmanaged
    {
        if (MemoryMarshal.TryGetArray<T>(data, out var segment)) return CreateTensorValueFromMemory(segment, shape);
        return CreateTensorWithCopy<T>(data.Span, shape);
    }

    private static OrtValue CreateTensorValueFromMemory<T>(ArraySegment<T> data, ReadOnlySpan<long> shape) where T : unmanaged
    {
        var type = TensorElementTypes.Of<T>();
        CheckCount(data.Count, shape);
        if (data.Count == 0) return CreateAllocatedTensorValue(type, shape); // ORT rejects a null data pointer
        var memoryInfo = OrtMemoryInfo.DefaultInstance;
        var pin = GCHandle.Alloc(data.Array!, GCHandleType.Pinned);
        try
        {
            var p = (T*)pin.AddrOfPinnedObject() + data.Offset;
            var value = OrtNative.CreateTensorWithData(memoryInfo.Handle.Pointer, p, (nuint)(data.Count * sizeof(T)), shape, type);
            return new OrtValue(new OrtSafeHandle(value, OrtNative.SlotReleaseValue, pin));
        }
        catch
        {
            pin.Free();
            throw;
        }
    }

    /// <summary>A tensor in ORT-allocated CPU memory holding a copy of <paramref name="data"/>.</summary>
    public static OrtValue CreateTensorWithCopy<T>(ReadOnlySpan<T> data, ReadOnlySpan<long> shape) where T : unmanaged
    {
        CheckCount(data.Length, shape);
        var value = CreateAllocatedTensorValue(TensorElementTypes.Of<T>(), shape);
        data.CopyTo(value.GetTensorMutableDataAsSpan<T>());
        return value;
    }

    /// <summary>A tensor of <paramref name="type"/> in memory ORT allocates (contents undefined; zero-size shapes allowed).</summary>
    public static OrtValue CreateAllocatedTensorValue(TensorElementType type, ReadOnlySpan<long> shape)
    {
        _ = OrtEnv.Instance;
        return FromOwnedPointer(OrtNative.CreateTensor(OrtNative.DefaultAllocator, shape, type));
    }

    private static void CheckCount(long count, ReadOnlySpan<long> shape)
    {
        long expected = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"shape [{string.Join(",", shape.ToArray())}] has a negative dimension");
            expected *= d;
        }
        if (expected != count)
            throw new ArgumentException($"shape [{string.Join(",", shape.ToArray())}] needs {expected} elements but the buffer holds {count}");
    }

    /// <summary>Whether this value is a tensor.</summary>
    public bool IsTensor => OrtNative.IsTensor(Handle.Pointer);

    /// <summary>Element type of the tensor.</summary>
    public TensorElementType ElementType => Info.ElementType;

    /// <summary>Tensor shape.</summary>
    public long[] Shape => (long[])Info.Shape.Clone();

    /// <summary>Number of elements.</summary>
    public long ElementCount => Info.ElementCount;

    private TensorInfo Info => _info ??= ReadInfo();

    private TensorInfo ReadInfo()
    {
        var info = OrtNative.GetHandleFromHandle(OrtNative.SlotGetTensorTypeAndShape, Handle.Pointer);
        try
        {
            var type = (TensorElementType)OrtNative.GetInt(OrtNative.SlotGetTensorElementType, info);
            var shape = OrtNative.GetDimensions(info);
            long count = 1;
            foreach (var d in shape) count *= d;
            return new TensorInfo(type, shape, count);
        }
        finally
        {
            OrtNative.Release(OrtNative.SlotReleaseTensorTypeAndShapeInfo, info);
        }
    }

    /// <summary>The tensor's elements, read-only. <typeparamref name="T"/> must match <see cref="ElementType"/>.</summary>
    public ReadOnlySpan<T> GetTensorDataAsSpan<T>() where T : unmanaged => GetTensorMutableDataAsSpan<T>();

    /// <summary>The tensor's elements, writable in place (CPU tensors only).</summary>
    public Span<T> GetTensorMutableDataAsSpan<T>() where T : unmanaged
    {
        var wanted = TensorElementTypes.Of<T>();
        if (wanted != ElementType)
            throw new InvalidOperationException($"the tensor holds {ElementType}, not {wanted}");
        if (ElementCount == 0) return Span<T>.Empty;
        var p = OrtNative.GetTensorMutableData(Handle.Pointer);
        return new Span<T>(p, checked((int)ElementCount));
    }

    /// <summary>Copies the tensor to a new float array, widening float16 and bfloat16 (logits of fp16 models).</summary>
    public float[] ToFloatArray()
    {
        switch (ElementType)
        {
            case TensorElementType.Float:
                return GetTensorDataAsSpan<float>().ToArray();
            case TensorElementType.Float16:
            {
                var src = GetTensorDataAsSpan<Half>();
                var dst = new float[src.Length];
                for (var i = 0; i < src.Length; i++) dst[i] = (float)src[i];
                return dst;
            }
            case TensorElementType.BFloat16:
            {
                var src = GetTensorDataAsSpan<BFloat16>();
                var dst = new float[src.Length];
                for (var i = 0; i < src.Length; i++) dst[i] = (float)src[i];
                return dst;
            }
            default:
                throw new InvalidOperationException($"the tensor holds {ElementType}, not a floating-point type");
        }
    }

    public void Dispose() => Handle.Dispose();

    private sealed record TensorInfo(TensorElementType ElementType, long[] Shape, long ElementCount);
}
