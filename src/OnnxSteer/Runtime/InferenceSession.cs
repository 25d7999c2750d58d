namespace OnnxSteer.Runtime;

/// <summary>
/// An ONNX Runtime session over one model. Shaped after Microsoft.ML.OnnxRuntime's InferenceSession: names and metadata
/// of inputs and outputs, <see cref="Run(IReadOnlyDictionary{string, OrtValue}, IReadOnlyList{string}, RunOptions?)"/>
/// by name, and <see cref="RunWithBinding"/>. A session may run from several threads at once; dispose it once.
/// </summary>
public sealed unsafe class InferenceSession : IDisposable
{
    /// <summary>Session config key: the folder external-data locations are relative to, for sessions made from bytes.</summary>
    public const string ExternalInitializersFolderKey = "session.model_external_initializers_file_folder_path";

    internal OrtSafeHandle Handle { get; }

    /// <summary>The model file, when the session was made from a path.</summary>
    public string? ModelPath { get; }

    /// <summary>Input names in the model's order.</summary>
    public IReadOnlyList<string> InputNames { get; }

    /// <summary>Output names in the model's order.</summary>
    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>Declared type and shape of each input.</summary>
    public IReadOnlyDictionary<string, NodeMetadata> InputMetadata { get; }

    /// <summary>Declared type and shape of each output.</summary>
    public IReadOnlyDictionary<string, NodeMetadata> OutputMetadata { get; }

    /// <summary>
    /// Initializers that are also graph inputs, which a run may override by feeding a value under their name (absent
    /// from <see cref="InputNames"/>: they have defaults). <c>onnxsteer patch --switchable</c> makes its steering
    /// vectors and strength such initializers.
    /// </summary>
    public IReadOnlyDictionary<string, NodeMetadata> OverridableInitializerMetadata => _overridable.Value;

    private readonly Lazy<IReadOnlyDictionary<string, NodeMetadata>> _overridable;

    /// <summary>Execution providers requested for this session, in priority order (CPU last).</summary>
    public IReadOnlyList<string> Providers { get; }

    /// <summary>Opens <paramref name="modelPath"/>; its external data is read relative to the model's folder.</summary>
    public InferenceSession(string modelPath, SessionOptions? options = null)
    {
        var full = Path.GetFullPath(modelPath);
        if (!File.Exists(full)) throw new InvalidModelException($"{modelPath}: no such model file");
        ModelPath = full;
        using var owned = options is null ? new SessionOptions() : null;
        var opts = options ?? owned!;
        Handle = new OrtSafeHandle(OrtNative.CreateSession(OrtEnv.Instance.Handle.Pointer, full, opts.Handle.Pointer), OrtNative.SlotReleaseSession);
        Providers = [.. opts.AppendedProviders, "CPUExecutionProvider"];
        (InputNames, InputMetadata, OutputNames, OutputMetadata) = ReadSignature();
        _overridable = new(ReadOverridable);
    }

    /// <summary>
    /// Opens a model from bytes. When it has external data, <paramref name="externalDataFolder"/> names the folder its
    /// locations are relative to (set on a copy of <paramref name="options"/>; the caller's options are not changed).
    /// </summary>
    public InferenceSession(byte[] model, SessionOptions? options = null, string? externalDataFolder = null)
    {
        using var owned = options is null ? new SessionOptions() : options.Clone();
        if (externalDataFolder is not null)
            owned.AddSessionConfigEntry(ExternalInitializersFolderKey, Path.GetFullPath(externalDataFolder));
        Handle = new OrtSafeHandle(OrtNative.CreateSessionFromArray(OrtEnv.Instance.Handle.Pointer, model, owned.Handle.Pointer), OrtNative.SlotReleaseSession);
        Providers = [.. owned.AppendedProviders, "CPUExecutionProvider"];
        (InputNames, InputMetadata, OutputNames, OutputMetadata) = ReadSignature();
        _overridable = new(ReadOverridable);
    }

    private (string[], Dictionary<string, NodeMetadata>, string[], Dictionary<string, NodeMetadata>) ReadSignature()
    {
        var session = Handle.Pointer;
        var (inNames, inMeta) = ReadSide(session, OrtNative.SlotSessionGetInputCount, OrtNative.SlotSessionGetInputName, OrtNative.SlotSessionGetInputTypeInfo);
        var (outNames, outMeta) = ReadSide(session, OrtNative.SlotSessionGetOutputCount, OrtNative.SlotSessionGetOutputName, OrtNative.SlotSessionGetOutputTypeInfo);
        return (inNames, inMeta, outNames, outMeta);
    }

    private IReadOnlyDictionary<string, NodeMetadata> ReadOverridable() =>
        ReadSide(Handle.Pointer, OrtNative.SlotSessionGetOverridableInitializerCount,
            OrtNative.SlotSessionGetOverridableInitializerName, OrtNative.SlotSessionGetOverridableInitializerTypeInfo).Item2;

    private static (string[], Dictionary<string, NodeMetadata>) ReadSide(nint session, int countSlot, int nameSlot, int typeSlot)
    {
        var count = OrtNative.GetCount(countSlot, session);
        var names = new string[(int)count];
        var meta = new Dictionary<string, NodeMetadata>(StringComparer.Ordinal);
        for (nuint i = 0; i < count; i++)
        {
            names[i] = OrtNative.GetSessionName(nameSlot, session, i);
            var typeInfo = OrtNative.GetIndexedHandle(typeSlot, session, i);
            try { meta[names[i]] = NodeMetadata.FromTypeInfo(typeInfo); }
            finally { OrtNative.Release(OrtNative.SlotReleaseTypeInfo, typeInfo); }
        }
        return (names, meta);
    }

    /// <summary>Runs with every input given by name and returns all the model's outputs.</summary>
    public RunOutputs Run(IReadOnlyDictionary<string, OrtValue> inputs, RunOptions? runOptions = null) =>
        Run(inputs, OutputNames, runOptions);

    /// <summary>Runs with the inputs given by name and returns the outputs named in <paramref name="outputNames"/>, in that order.</summary>
    public RunOutputs Run(IReadOnlyDictionary<string, OrtValue> inputs, IReadOnlyList<string> outputNames, RunOptions? runOptions = null) =>
        Run(inputs.Keys.ToArray(), inputs.Values.ToArray(), outputNames, runOptions);

    /// <summary>Runs with parallel lists of input names and values (Microsoft.ML.OnnxRuntime's shape).</summary>
    public RunOutputs Run(IReadOnlyList<string> inputNames, IReadOnlyList<OrtValue> inputValues, IReadOnlyList<string> outputNames, RunOptions? runOptions = null)
    {
        if (inputNames.Count != inputValues.Count)
            throw new ArgumentException($"{inputNames.Count} input names but {inputValues.Count} values");
        using var inNames = new Utf8Array(inputNames);
        using var outNames = new Utf8Array(outputNames);
        var inputs = new nint[inputValues.Count];
        var outputs = new nint[outputNames.Count];
        // Hold every handle for the duration of the native call so a concurrent Dispose cannot free it mid-run.
        var held = new List<OrtSafeHandle>(inputs.Length + 2);
        try
        {
            AddRef(Handle, held);
            if (runOptions is not null) AddRef(runOptions.Handle, held);
            for (var i = 0; i < inputs.Length; i++) inputs[i] = AddRef(inputValues[i].Handle, held);
            fixed (nint* pIn = inputs)
            fixed (nint* pOut = outputs)
                OrtNative.Run(Handle.DangerousGetHandle(), runOptions?.Handle.DangerousGetHandle() ?? 0,
                    inNames.Pointers, pIn, (nuint)inputs.Length, outNames.Pointers, (nuint)outputs.Length, pOut);
        }
        finally
        {
            foreach (var h in held) h.DangerousRelease();
        }
        var values = new OrtValue[outputs.Length];
        for (var i = 0; i < outputs.Length; i++) values[i] = OrtValue.FromOwnedPointer(outputs[i]);
        return new RunOutputs(outputNames.ToArray(), values);
    }

    /// <summary>Creates an I/O binding for this session.</summary>
    public OrtIoBinding CreateIoBinding() => new(this);

    /// <summary>Runs with the inputs and outputs bound in <paramref name="binding"/>; read results with <see cref="OrtIoBinding.GetOutputValues"/>.</summary>
    public void RunWithBinding(OrtIoBinding binding, RunOptions? runOptions = null)
    {
        var held = new List<OrtSafeHandle>(3);
        try
        {
            AddRef(Handle, held);
            AddRef(binding.Handle, held);
            if (runOptions is not null) AddRef(runOptions.Handle, held);
            OrtNative.RunWithBinding(Handle.DangerousGetHandle(), runOptions?.Handle.DangerousGetHandle() ?? 0, binding.Handle.DangerousGetHandle());
        }
        finally
        {
            foreach (var h in held) h.DangerousRelease();
        }
    }

    private static nint AddRef(OrtSafeHandle handle, List<OrtSafeHandle> held)
    {
        var ok = false;
        handle.DangerousAddRef(ref ok);
        held.Add(handle);
        return handle.DangerousGetHandle();
    }

    public void Dispose() => Handle.Dispose();
}
