using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxSteer.ModelFiles;
using OnnxSteer.Runtime;

namespace OnnxSteer.Generation;

/// <summary>
/// A decoder-only language model export opened in plain ONNX Runtime for <see cref="Generator"/> (and, inside the
/// library, for evaluation and diffing): the onnxruntime-genai layout or Hugging Face Optimum's, any dtype, with or
/// without a KV cache. Batch size is 1.
/// <para>
/// Who disposes what: a model from <see cref="Open(string, RuntimeSettings)"/> owns its ONNX Runtime <see cref="Session"/> and disposes it in
/// <see cref="Dispose"/> (do not dispose <see cref="Session"/> yourself); values given to <see cref="SetModelInput"/>
/// stay the caller's, to dispose after the model. Dispose the model after every <see cref="Generator"/> using it is done.
/// </para>
/// </summary>
public sealed class DecoderModel : IDisposable
{
    /// <summary>The ONNX Runtime session running the model, owned by this model (for its metadata, e.g. overridable initializers).</summary>
    public InferenceSession Session { get; }

    /// <summary>Names and KV-cache shape.</summary>
    internal DecoderLayout Layout { get; }

    /// <summary>The model file's full path (for messages).</summary>
    public string ModelPath { get; }

    /// <summary>The stop tokens of genai_config.json beside the model; empty when it has none (the tokenizer's EOS is then the caller's choice).</summary>
    public IReadOnlyList<int> EosTokenIds => Layout.EosTokenIds;

    /// <summary>The longest sequence (prompt and generated tokens) genai_config.json allows, when it says.</summary>
    public int? ContextLength => Layout.ContextLength;

    /// <summary>genai_config.json beside the model, when there is one.</summary>
    internal GenaiConfigFile? Config { get; }

    // Where present tensors are produced and left: on the GPU when CUDA runs the model, so the cache never crosses to the host.
    private readonly OrtMemoryInfo _kvMemory;
    private readonly bool _ownsSession;
    private readonly Dictionary<string, OrtValue> _modelInputs = new(StringComparer.Ordinal);

    /// <summary>
    /// Wraps an open session (not owned unless <paramref name="ownsSession"/>) of the model <paramref name="modelPath"/>
    /// (for messages), running on <paramref name="device"/> (CUDA keeps the KV cache on GPU <paramref name="cudaDeviceId"/>).
    /// </summary>
    internal DecoderModel(InferenceSession session, DecoderLayout layout, GenaiConfigFile? config = null, bool ownsSession = false,
        string? modelPath = null, ExecutionDevice device = ExecutionDevice.Cpu, int cudaDeviceId = 0)
    {
        Session = session;
        Layout = layout;
        Config = config;
        ModelPath = modelPath ?? "(model bytes)";
        _ownsSession = ownsSession;
        _kvMemory = device == ExecutionDevice.Cuda
            ? new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, cudaDeviceId, OrtMemType.Default)
            : OrtMemoryInfo.DefaultInstance;
    }

    /// <summary>
    /// Opens a model folder (its genai_config.json names the file, else model.onnx) or a .onnx file (a genai_config.json
    /// beside it is used for names and special tokens). The caller disposes the model.
    /// </summary>
    /// <param name="modelDirOrFile">The model folder or .onnx file.</param>
    /// <param name="settings">Device, threads and the ONNX Runtime library; null = the CPU defaults.</param>
    /// <exception cref="InvalidModelException">No model there, or its inputs and outputs are not a decoder's.</exception>
    /// <exception cref="RuntimeUnavailableException">ONNX Runtime or the requested execution provider cannot run it.</exception>
    public static DecoderModel Open(string modelDirOrFile, RuntimeSettings? settings = null) => Open(modelDirOrFile, null, null, settings);

    /// <summary>
    /// Opens the model at <paramref name="modelDirOrFile"/> (its layout, genai_config.json and external data) with the
    /// graph <paramref name="graph"/> in place of the file's, when given: a model steered in memory, whose weights in
    /// external data are read from <paramref name="externalDataFolder"/>.
    /// </summary>
    internal static DecoderModel Open(string modelDirOrFile, byte[]? graph, string? externalDataFolder, RuntimeSettings? settings = null)
    {
        settings ??= RuntimeSettings.Default;
        var (file, _, config) = ModelLocator.Locate(modelDirOrFile);
        ExecutionDevice device;
        var session = graph is null ? settings.OpenSession(file, out device)
            : settings.OpenSession(graph, externalDataFolder, out device, $"{file} (steered in memory)");
        try
        {
            return new DecoderModel(session, DecoderLayout.Detect(session, config, file), config, ownsSession: true, Path.GetFullPath(file), device, settings.DeviceId);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Feeds <paramref name="value"/> as input <paramref name="name"/> on every later run (like onnxruntime-genai's
    /// SetModelInput): an input the decoder layout does not manage, or an overridable initializer such as the steering
    /// strength of a <c>patch --switchable</c> model. The caller keeps ownership of the value and must keep it alive;
    /// null stops feeding it.
    /// </summary>
    /// <exception cref="InvalidModelException">The model has no such input, or the layout feeds it itself.</exception>
    public void SetModelInput(string name, OrtValue? value)
    {
        if (value is null) { _modelInputs.Remove(name); return; }
        if (Layout.ManagedInputs.Contains(name))
            throw new InvalidModelException($"{ModelPath}: input '{name}' is fed by the decoder itself");
        if (!Session.InputMetadata.ContainsKey(name) && !Session.OverridableInitializerMetadata.ContainsKey(name))
            throw new InvalidModelException($"{ModelPath}: the model has no input or overridable initializer named '{name}'");
        _modelInputs[name] = value;
    }

    /// <summary>An empty cache for a new sequence.</summary>
    internal KvCache CreateCache() => new(Layout);

    /// <summary>
    /// Logits at every position of <paramref name="ids"/> from one full-sequence run (empty past). Float16/bfloat16
    /// logits are widened to float.
    /// </summary>
    internal LogitsMatrix Forward(IReadOnlyList<int> ids, RunOptions? runOptions = null)
    {
        using var inputs = CreateInputs(ids);
        using var outputs = Session.RunNamed(inputs.Names, inputs.Values, [Layout.Logits], runOptions);
        var logits = outputs[0];
        var (rows, vocab) = RowsAndVocab(logits);
        if (rows != ids.Count)
            throw new InvalidModelException($"{ModelPath}: {Layout.Logits} has {rows} positions for {ids.Count} input tokens (the export returns only the last position's logits)");
        return new LogitsMatrix(ReadRows(logits, 0, rows, vocab), rows, vocab);
    }

    /// <summary>
    /// The inputs of a full-sequence run over <paramref name="ids"/> (empty KV cache), for callers that run the session
    /// themselves, e.g. to fetch extra outputs. Dispose after the run.
    /// </summary>
    internal DecoderInputs CreateInputs(IReadOnlyList<int> ids) => BuildInputs(ids, null);

    /// <summary>
    /// Runs <paramref name="newIds"/> after the tokens in <paramref name="cache"/> and returns the logits for the last
    /// new position; the cache then covers the new tokens too. Outputs are bound with an <see cref="OrtIoBinding"/> so the
    /// present tensors stay where ORT produced them.
    /// </summary>
    internal float[] Step(IReadOnlyList<int> newIds, KvCache cache, RunOptions? runOptions = null)
    {
        if (!Layout.HasKvCache) throw new InvalidOperationException($"{ModelPath} has no KV-cache inputs; use Forward");
        using var inputs = BuildInputs(newIds, cache);
        using var binding = Session.CreateIoBinding();
        for (var i = 0; i < inputs.Names.Count; i++) binding.BindInput(inputs.Names[i], inputs.Values[i]);
        var bound = new List<string>(1 + 2 * Layout.Layers) { Layout.Logits };
        binding.BindOutputToDevice(Layout.Logits, OrtMemoryInfo.DefaultInstance);
        for (var l = 0; l < Layout.Layers; l++)
        {
            binding.BindOutputToDevice(Layout.PresentKeys[l], _kvMemory);
            binding.BindOutputToDevice(Layout.PresentValues[l], _kvMemory);
            bound.Add(Layout.PresentKeys[l]);
            bound.Add(Layout.PresentValues[l]);
        }
        using var outputs = Session.RunBound(binding, bound, runOptions);
        var logits = outputs[Layout.Logits];
        var (rows, vocab) = RowsAndVocab(logits);
        var last = ReadRows(logits, rows - 1, 1, vocab);
        var keys = new OrtValue[Layout.Layers];
        var values = new OrtValue[Layout.Layers];
        for (var l = 0; l < Layout.Layers; l++)
        {
            keys[l] = outputs.Detach(Layout.PresentKeys[l]);
            values[l] = outputs.Detach(Layout.PresentValues[l]);
        }
        cache.Replace(keys, values, cache.Length + newIds.Count);
        return last;
    }

    private DecoderInputs BuildInputs(IReadOnlyList<int> ids, KvCache? cache)
    {
        if (ids.Count == 0) throw new ArgumentException("at least one token id is needed", nameof(ids));
        var past = cache?.Length ?? 0;
        var n = ids.Count;
        var inputs = new DecoderInputs();
        try
        {
            inputs.AddOwned(Layout.InputIds, IdTensor(Layout.InputIdsType, ids.Select(i => (long)i), n));
            if (Layout.AttentionMask is { } mask)
                inputs.AddOwned(mask, IdTensor(Layout.AttentionMaskType, Enumerable.Repeat(1L, past + n), past + n));
            if (Layout.PositionIds is { } pos)
                inputs.AddOwned(pos, IdTensor(Layout.PositionIdsType, Enumerable.Range(past, n).Select(i => (long)i), n));
            if (Layout.UseCacheBranch is { } branch)
                inputs.AddOwned(branch, OrtValue.CreateTensorValueFromMemory(new[] { past > 0 }, [1]));
            if (Layout.HasKvCache)
            {
                var source = cache ?? new KvCache(Layout);
                if (cache is null) inputs.Own(source);
                for (var l = 0; l < Layout.Layers; l++)
                {
                    inputs.AddBorrowed(Layout.PastKeys[l], source.Key(l));
                    inputs.AddBorrowed(Layout.PastValues[l], source.Value(l));
                }
            }
            foreach (var (name, value) in _modelInputs) inputs.AddBorrowed(name, value);
            return inputs;
        }
        catch
        {
            inputs.Dispose();
            throw;
        }
    }

    private static OrtValue IdTensor(TensorElementType type, IEnumerable<long> values, int length) => type == TensorElementType.Int32
        ? OrtValue.CreateTensorValueFromMemory(values.Select(v => checked((int)v)).ToArray(), [1, length])
        : OrtValue.CreateTensorValueFromMemory(values.ToArray(), [1, length]);

    private (int Rows, int Vocab) RowsAndVocab(OrtValue logits)
    {
        var shape = logits.Shape();
        if (shape.Length is < 2 or > 3 || shape[0] != 1)
            throw new InvalidModelException($"{ModelPath}: {Layout.Logits} has shape [{string.Join(",", shape)}]; expected [1, positions, vocab]");
        return shape.Length == 3 ? ((int)shape[1], (int)shape[2]) : (1, (int)shape[1]);
    }

    /// <summary>Copies rows of a float/float16/bfloat16 logits tensor into floats.</summary>
    private static float[] ReadRows(OrtValue logits, int firstRow, int rows, int vocab)
    {
        return logits.ReadFloats(firstRow * vocab, rows * vocab);
    }

    /// <summary>Disposes the session (when this model owns it) and the KV-cache memory description.</summary>
    public void Dispose()
    {
        if (!ReferenceEquals(_kvMemory, OrtMemoryInfo.DefaultInstance)) _kvMemory.Dispose();
        if (_ownsSession) Session.Dispose();
    }
}

/// <summary>Named inputs for one run; disposes the values it created, not those it borrowed (a cache's tensors).</summary>
internal sealed class DecoderInputs : IDisposable
{
    private readonly List<string> _names = [];
    private readonly List<OrtValue> _values = [];
    private readonly List<IDisposable> _owned = [];

    /// <summary>Input names, parallel to <see cref="Values"/>.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>Input values.</summary>
    public IReadOnlyList<OrtValue> Values => _values;

    /// <summary>The inputs as a dictionary.</summary>
    public IReadOnlyDictionary<string, OrtValue> ToDictionary() => _names.Zip(_values).ToDictionary(p => p.First, p => p.Second);

    internal void AddOwned(string name, OrtValue value)
    {
        _owned.Add(value);
        AddBorrowed(name, value);
    }

    internal void AddBorrowed(string name, OrtValue value)
    {
        _names.Add(name);
        _values.Add(value);
    }

    internal void Own(IDisposable d) => _owned.Add(d);

    public void Dispose()
    {
        foreach (var d in _owned) d.Dispose();
        _owned.Clear();
    }
}
