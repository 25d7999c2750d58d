using System.Runtime.InteropServices;
using System.Text;

namespace OnnxSteer.Runtime;

/// <summary>
/// Typed calls into the OrtApi function table by slot number (see ../shared/docs/ort-c-api.md; slots are append-only,
/// so the numbers are stable across releases). Every OrtStatus-returning call goes through <see cref="Check"/>.
/// </summary>
internal static unsafe class OrtNative
{
    // Slot numbers of the OrtApi table used by this binding.
    internal const int SlotGetErrorCode = 1, SlotGetErrorMessage = 2, SlotCreateEnv = 3, SlotCreateSession = 7,
        SlotCreateSessionFromArray = 8, SlotRun = 9, SlotCreateSessionOptions = 10, SlotCloneSessionOptions = 12,
        SlotEnableCpuMemArena = 18, SlotDisableCpuMemArena = 19, SlotSetSessionLogSeverityLevel = 22,
        SlotSetGraphOptimizationLevel = 23, SlotSetIntraOpNumThreads = 24, SlotSetInterOpNumThreads = 25,
        SlotSessionGetInputCount = 30, SlotSessionGetOutputCount = 31, SlotSessionGetInputTypeInfo = 33,
        SlotSessionGetOutputTypeInfo = 34, SlotSessionGetInputName = 36, SlotSessionGetOutputName = 37,
        SlotSessionGetOverridableInitializerCount = 32, SlotSessionGetOverridableInitializerTypeInfo = 35,
        SlotSessionGetOverridableInitializerName = 38,
        SlotCreateRunOptions = 39, SlotRunOptionsSetRunLogSeverityLevel = 41, SlotRunOptionsSetTerminate = 46,
        SlotRunOptionsUnsetTerminate = 47, SlotCreateTensorAsOrtValue = 48, SlotCreateTensorWithDataAsOrtValue = 49,
        SlotIsTensor = 50, SlotGetTensorMutableData = 51, SlotCastTypeInfoToTensorInfo = 55,
        SlotGetOnnxTypeFromTypeInfo = 56, SlotGetTensorElementType = 60, SlotGetDimensionsCount = 61,
        SlotGetDimensions = 62, SlotGetSymbolicDimensions = 63, SlotGetTensorTypeAndShape = 65, SlotGetValueType = 67,
        SlotCreateMemoryInfo = 68, SlotCreateCpuMemoryInfo = 69, SlotAllocatorFree = 76,
        SlotGetAllocatorWithDefaultOptions = 78, SlotReleaseEnv = 92, SlotReleaseStatus = 93,
        SlotReleaseMemoryInfo = 94, SlotReleaseSession = 95, SlotReleaseValue = 96, SlotReleaseRunOptions = 97,
        SlotReleaseTypeInfo = 98, SlotReleaseTensorTypeAndShapeInfo = 99, SlotReleaseSessionOptions = 100,
        SlotGetAvailableProviders = 125, SlotReleaseAvailableProviders = 126, SlotAddSessionConfigEntry = 130,
        SlotRunWithBinding = 133, SlotCreateIoBinding = 134, SlotReleaseIoBinding = 135, SlotBindInput = 136,
        SlotBindOutput = 137, SlotBindOutputToDevice = 138, SlotGetBoundOutputValues = 140,
        SlotClearBoundInputs = 141, SlotClearBoundOutputs = 142, SlotAppendCudaV2 = 204,
        SlotCreateCudaProviderOptions = 205, SlotUpdateCudaProviderOptions = 206, SlotReleaseCudaProviderOptions = 208;

    private static nint* Api => OrtLibrary.Api;

    /// <summary>Turns a non-null OrtStatus into an <see cref="OrtException"/> (code and message), releasing the status.</summary>
    internal static void Check(nint status, string? context = null)
    {
        if (status == 0) return;
        var api = Api;
        var code = ((delegate* unmanaged<nint, int>)api[SlotGetErrorCode])(status);
        var msgPtr = ((delegate* unmanaged<nint, byte*>)api[SlotGetErrorMessage])(status);
        var message = Marshal.PtrToStringUTF8((nint)msgPtr) ?? "(no message)";
        ((delegate* unmanaged<nint, void>)api[SlotReleaseStatus])(status);
        throw new OrtException((OrtErrorCode)code, message, context);
    }

    /// <summary>Calls a Release* slot (void Release(T*)).</summary>
    internal static void Release(int slot, nint handle) => ((delegate* unmanaged<nint, void>)Api[slot])(handle);

    // ---- calls shaped f(out) / f(a, out) etc. -------------------------------------------------------------------

    internal static nint CreateHandle(int slot)
    {
        nint h;
        Check(((delegate* unmanaged<nint*, nint>)Api[slot])(&h));
        return h;
    }

    internal static void CallWithHandle(int slot, nint a, string? context = null) =>
        Check(((delegate* unmanaged<nint, nint>)Api[slot])(a), context);

    internal static void CallWithInt(int slot, nint a, int value) =>
        Check(((delegate* unmanaged<nint, int, nint>)Api[slot])(a, value));

    internal static nint GetHandleFromHandle(int slot, nint a)
    {
        nint h;
        Check(((delegate* unmanaged<nint, nint*, nint>)Api[slot])(a, &h));
        return h;
    }

    internal static nuint GetCount(int slot, nint a)
    {
        nuint n;
        Check(((delegate* unmanaged<nint, nuint*, nint>)Api[slot])(a, &n));
        return n;
    }

    internal static int GetInt(int slot, nint a)
    {
        int v;
        Check(((delegate* unmanaged<nint, int*, nint>)Api[slot])(a, &v));
        return v;
    }

    internal static nint GetIndexedHandle(int slot, nint a, nuint index)
    {
        nint h;
        Check(((delegate* unmanaged<nint, nuint, nint*, nint>)Api[slot])(a, index, &h));
        return h;
    }

    // ---- specific calls ------------------------------------------------------------------------------------------

    internal static nint CreateEnv(OrtLoggingLevel level, string logId)
    {
        nint env;
        fixed (byte* id = Utf8Z(logId))
            Check(((delegate* unmanaged<int, byte*, nint*, nint>)Api[SlotCreateEnv])((int)level, id, &env));
        return env;
    }

    internal static nint CreateSession(nint env, string modelPath, nint options)
    {
        nint session;
        // ORTCHAR_T is UTF-8 char on Linux/macOS and UTF-16 wchar_t on Windows.
        if (OperatingSystem.IsWindows())
        {
            fixed (char* p = modelPath)
                Check(((delegate* unmanaged<nint, char*, nint, nint*, nint>)Api[SlotCreateSession])(env, p, options, &session), modelPath);
        }
        else
        {
            fixed (byte* p = Utf8Z(modelPath))
                Check(((delegate* unmanaged<nint, byte*, nint, nint*, nint>)Api[SlotCreateSession])(env, p, options, &session), modelPath);
        }
        return session;
    }

    internal static nint CreateSessionFromArray(nint env, ReadOnlySpan<byte> model, nint options)
    {
        nint session;
        fixed (byte* p = model)
            Check(((delegate* unmanaged<nint, byte*, nuint, nint, nint*, nint>)Api[SlotCreateSessionFromArray])(
                env, p, (nuint)model.Length, options, &session), "model bytes");
        return session;
    }

    internal static void AddSessionConfigEntry(nint options, string key, string value)
    {
        fixed (byte* k = Utf8Z(key))
        fixed (byte* v = Utf8Z(value))
            Check(((delegate* unmanaged<nint, byte*, byte*, nint>)Api[SlotAddSessionConfigEntry])(options, k, v), $"config entry {key}");
    }

    /// <summary>Reads a name returned through the default allocator, then frees it with that allocator.</summary>
    internal static string GetSessionName(int slot, nint session, nuint index)
    {
        var allocator = DefaultAllocator;
        byte* name;
        Check(((delegate* unmanaged<nint, nuint, nint, byte**, nint>)Api[slot])(session, index, allocator, &name));
        try { return Marshal.PtrToStringUTF8((nint)name) ?? ""; }
        finally { AllocatorFree(allocator, name); }
    }

    internal static void AllocatorFree(nint allocator, void* p) =>
        Check(((delegate* unmanaged<nint, void*, nint>)Api[SlotAllocatorFree])(allocator, p));

    /// <summary>ORT's default CPU allocator; owned by ORT, never released.</summary>
    internal static nint DefaultAllocator
    {
        get
        {
            if (_defaultAllocator == 0) _defaultAllocator = CreateHandle(SlotGetAllocatorWithDefaultOptions);
            return _defaultAllocator;
        }
    }
    private static nint _defaultAllocator;

    internal static void Run(nint session, nint runOptions, byte** inputNames, nint* inputs, nuint inputCount,
        byte** outputNames, nuint outputCount, nint* outputs) =>
        Check(((delegate* unmanaged<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, nint>)Api[SlotRun])(
            session, runOptions, inputNames, inputs, inputCount, outputNames, outputCount, outputs));

    internal static void RunWithBinding(nint session, nint runOptions, nint binding) =>
        Check(((delegate* unmanaged<nint, nint, nint, nint>)Api[SlotRunWithBinding])(session, runOptions, binding));

    internal static nint CreateTensorWithData(nint memoryInfo, void* data, nuint byteLength, ReadOnlySpan<long> shape, TensorElementType type)
    {
        nint value;
        fixed (long* s = shape)
            Check(((delegate* unmanaged<nint, void*, nuint, long*, nuint, int, nint*, nint>)Api[SlotCreateTensorWithDataAsOrtValue])(
                memoryInfo, data, byteLength, s, (nuint)shape.Length, (int)type, &value));
        return value;
    }

    internal static nint CreateTensor(nint allocator, ReadOnlySpan<long> shape, TensorElementType type)
    {
        nint value;
        fixed (long* s = shape)
            Check(((delegate* unmanaged<nint, long*, nuint, int, nint*, nint>)Api[SlotCreateTensorAsOrtValue])(
                allocator, s, (nuint)shape.Length, (int)type, &value));
        return value;
    }

    internal static bool IsTensor(nint value) => GetInt(SlotIsTensor, value) != 0;

    internal static void* GetTensorMutableData(nint value)
    {
        void* p;
        Check(((delegate* unmanaged<nint, void**, nint>)Api[SlotGetTensorMutableData])(value, &p));
        return p;
    }

    internal static long[] GetDimensions(nint tensorInfo)
    {
        var count = GetCount(SlotGetDimensionsCount, tensorInfo);
        var dims = new long[(int)count];
        fixed (long* d = dims)
            Check(((delegate* unmanaged<nint, long*, nuint, nint>)Api[SlotGetDimensions])(tensorInfo, d, count));
        return dims;
    }

    internal static string[] GetSymbolicDimensions(nint tensorInfo)
    {
        var count = (int)GetCount(SlotGetDimensionsCount, tensorInfo);
        var ptrs = new nint[count];
        fixed (nint* p = ptrs)
            Check(((delegate* unmanaged<nint, nint*, nuint, nint>)Api[SlotGetSymbolicDimensions])(tensorInfo, p, (nuint)count));
        // The strings belong to the info object; copy them out.
        return ptrs.Select(p => p == 0 ? "" : Marshal.PtrToStringUTF8(p) ?? "").ToArray();
    }

    internal static nint CreateCpuMemoryInfo()
    {
        nint info;
        // OrtArenaAllocator = 1, OrtMemTypeDefault = 0.
        Check(((delegate* unmanaged<int, int, nint*, nint>)Api[SlotCreateCpuMemoryInfo])(1, 0, &info));
        return info;
    }

    internal static nint CreateMemoryInfo(string name, int allocatorType, int deviceId, int memType)
    {
        nint info;
        fixed (byte* n = Utf8Z(name))
            Check(((delegate* unmanaged<byte*, int, int, int, nint*, nint>)Api[SlotCreateMemoryInfo])(n, allocatorType, deviceId, memType, &info));
        return info;
    }

    internal static void BindValue(int slot, nint binding, string name, nint value)
    {
        fixed (byte* n = Utf8Z(name))
            Check(((delegate* unmanaged<nint, byte*, nint, nint>)Api[slot])(binding, n, value), $"binding {name}");
    }

    internal static nint[] GetBoundOutputValues(nint binding)
    {
        var allocator = DefaultAllocator;
        nint* values;
        nuint count;
        Check(((delegate* unmanaged<nint, nint, nint**, nuint*, nint>)Api[SlotGetBoundOutputValues])(binding, allocator, &values, &count));
        if (count == 0 || values == null) return [];
        try { return new ReadOnlySpan<nint>(values, (int)count).ToArray(); }
        finally { AllocatorFree(allocator, values); }
    }

    internal static void ClearBound(int slot, nint binding) => ((delegate* unmanaged<nint, void>)Api[slot])(binding);

    internal static IReadOnlyList<string> GetAvailableProviders()
    {
        byte** names;
        int count;
        Check(((delegate* unmanaged<byte***, int*, nint>)Api[SlotGetAvailableProviders])(&names, &count));
        try
        {
            var list = new string[count];
            for (var i = 0; i < count; i++) list[i] = Marshal.PtrToStringUTF8((nint)names[i]) ?? "";
            return list;
        }
        finally
        {
            Check(((delegate* unmanaged<byte**, int, nint>)Api[SlotReleaseAvailableProviders])(names, count));
        }
    }

    /// <summary>Appends the CUDA EP (V2 options) with the given option keys/values; the options object is released here.</summary>
    internal static void AppendCudaV2(nint sessionOptions, IReadOnlyDictionary<string, string> providerOptions)
    {
        var cudaOptions = CreateHandle(SlotCreateCudaProviderOptions);
        try
        {
            using var keys = new Utf8Array(providerOptions.Keys.ToArray());
            using var values = new Utf8Array(providerOptions.Values.ToArray());
            Check(((delegate* unmanaged<nint, byte**, byte**, nuint, nint>)Api[SlotUpdateCudaProviderOptions])(
                cudaOptions, keys.Pointers, values.Pointers, (nuint)providerOptions.Count), "CUDA provider options");
            Check(((delegate* unmanaged<nint, nint, nint>)Api[SlotAppendCudaV2])(sessionOptions, cudaOptions));
        }
        finally
        {
            Release(SlotReleaseCudaProviderOptions, cudaOptions);
        }
    }

    /// <summary>A zero-terminated UTF-8 copy of <paramref name="s"/>.</summary>
    internal static byte[] Utf8Z(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }
}

/// <summary>An array of zero-terminated UTF-8 strings in native memory (a <c>const char* const*</c>), freed on dispose.</summary>
internal sealed unsafe class Utf8Array : IDisposable
{
    private readonly nint[] _strings;
    private nint _array;

    public Utf8Array(IReadOnlyList<string> strings)
    {
        _strings = new nint[strings.Count];
        _array = Marshal.AllocHGlobal(Math.Max(1, strings.Count) * sizeof(nint));
        for (var i = 0; i < strings.Count; i++)
        {
            _strings[i] = Marshal.StringToCoTaskMemUTF8(strings[i]);
            ((nint*)_array)[i] = _strings[i];
        }
    }

    public byte** Pointers => (byte**)_array;

    public void Dispose()
    {
        if (_array == 0) return;
        foreach (var s in _strings) Marshal.FreeCoTaskMem(s);
        Marshal.FreeHGlobal(_array);
        _array = 0;
    }
}
