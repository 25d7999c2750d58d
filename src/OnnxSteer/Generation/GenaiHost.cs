using Microsoft.ML.OnnxRuntimeGenAI;
using GenaiGenerator = Microsoft.ML.OnnxRuntimeGenAI.Generator;
using OnnxSteer.ModelFiles;
using OnnxSteer.Runtime;

namespace OnnxSteer.Generation;

/// <summary>
/// onnxruntime-genai (Microsoft.ML.OnnxRuntimeGenAI) running one model folder: the host most users of a genai-style model
/// deploy on, and the one both <c>onnxsteer generate --engine genai</c> and <c>onnxsteer serve</c> run, so the two give
/// the same tokens for the same prompt, settings and seed, and report genai's errors alike (<see cref="GenaiException"/>).
/// The prompt goes in as ids (genai's Tokenizer.Encode would drop the BOS a llama tokenizer needs), in chunks of
/// <see cref="PrefillChunk"/>; decoding follows <see cref="SamplingSettings"/>; genai stops at the EOS of
/// genai_config.json.
/// <para>
/// Who disposes what: the host owns its genai <see cref="Model"/> and the adapters loaded through
/// <see cref="UseAdapterFile"/>, and disposes them in <see cref="Dispose"/> (do not dispose <see cref="Model"/>
/// yourself). Each <see cref="Generate"/> creates one genai <c>Generator</c> and disposes it when its enumeration ends
/// or is disposed — unless the <c>activate</c> callback returns a lease, which then owns the generator and must dispose
/// it. Generations may run on several threads at once (one generator each); dispose the host only after all of them.
/// </para>
/// </summary>
public sealed class GenaiHost : IDisposable
{
    /// <summary>Prompt tokens appended per genai call unless <see cref="PrefillChunk"/> says otherwise.</summary>
    public const int DefaultPrefillChunk = 128;

    private readonly Adapters _adapters;
    private readonly HashSet<string> _loadedAdapters = new(StringComparer.Ordinal);
    private readonly Lock _adapterLock = new();

    private GenaiHost(Model model, string folder, string modelFile, GenaiConfigFile config)
    {
        Model = model;
        Folder = folder;
        ModelFile = modelFile;
        EosTokenIds = config.EosTokenIds;
        ContextLength = config.ContextLength;
        _adapters = new Adapters(model);
    }

    /// <summary>The model folder genai reads (its genai_config.json and the files it names).</summary>
    public string Folder { get; }

    /// <summary>The .onnx file genai runs (the one genai_config.json names; <see cref="ModelLocator"/> decides).</summary>
    public string ModelFile { get; }

    /// <summary>The stop tokens of genai_config.json.</summary>
    public IReadOnlyList<int> EosTokenIds { get; }

    /// <summary>The context length of genai_config.json, when it gives one.</summary>
    public int? ContextLength { get; }

    /// <summary>genai's model, owned by this host (for an adapter set or a chat-template tokenizer of your own; do not dispose it).</summary>
    public Model Model { get; }

    /// <summary>
    /// Prompt tokens appended per genai call: each call runs the model over its tokens and keeps their logits, so one
    /// call for a long prompt holds prompt × vocabulary floats (and activations of that length) at once. Set it before
    /// generating. The logits, and so the tokens, are the same for any chunk size.
    /// </summary>
    public int PrefillChunk
    {
        get => _prefillChunk;
        set => _prefillChunk = value >= 1 ? value : throw new InvalidParameterException(nameof(PrefillChunk), $"PrefillChunk {value}: must be 1 or more");
    }

    private int _prefillChunk = DefaultPrefillChunk;

    /// <summary>
    /// Opens a model folder, or the folder of a .onnx file (which must be the file its genai_config.json names: genai
    /// runs that one). The decoder session gets <paramref name="runtime"/>'s intra-op threads (the usable CPUs by
    /// default), laid over the folder's config in memory; the file is not changed. A config that asks for CUDA
    /// (onnxruntime-genai's builder writes one for every CUDA export) fails in the CPU build of onnxruntime-genai this
    /// library ships; the model is then opened with the providers cleared — genai's CPU — and
    /// <see cref="RuntimeSettings.Notice"/> says so.
    /// </summary>
    /// <exception cref="InvalidModelException">No such folder or file, no genai_config.json, or a file other than the one it names.</exception>
    /// <exception cref="GenaiException">onnxruntime-genai refused the model.</exception>
    public static GenaiHost Open(string modelDirOrFile, RuntimeSettings? runtime = null)
    {
        runtime ??= RuntimeSettings.Default;
        var location = ModelLocator.Locate(modelDirOrFile);
        var folder = location.Folder;
        var config = location.Config
            ?? throw new InvalidModelException($"{modelDirOrFile}: onnxruntime-genai needs a {GenaiConfigFile.FileName} beside the model");
        var genaiFile = ModelLocator.GenaiModelFile(folder);
        if (File.Exists(modelDirOrFile) && !SameFile(modelDirOrFile, genaiFile))
            throw new InvalidModelException($"{modelDirOrFile}: {GenaiConfigFile.FileName} beside it names {Path.GetFileName(genaiFile)}; onnxruntime-genai runs that file");
        var model = Call(folder, () => OpenModel(folder, runtime));
        try
        {
            return new GenaiHost(model, folder, genaiFile, config);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private static bool SameFile(string a, string b) =>
        string.Equals(RealPath.Resolve(Path.GetFullPath(a)), RealPath.Resolve(Path.GetFullPath(b)), StringComparison.Ordinal);

    private static Model OpenModel(string folder, RuntimeSettings runtime)
    {
        using var config = new Config(folder);
        config.Overlay(runtime.GenaiConfigOverlay());
        try
        {
            return new Model(config);
        }
        catch (OnnxRuntimeGenAIException e) when (e.Message.Contains("cuda", StringComparison.OrdinalIgnoreCase))
        {
            config.ClearProviders();
            var model = new Model(config);
            runtime.Notice?.Invoke($"note: {folder}: {GenaiConfigFile.FileName} asks for the CUDA provider, which this onnxruntime-genai " +
                                   "(its CPU build) does not have; running on CPU. For the GPU: run the folder with an onnxruntime-genai " +
                                   "built for CUDA (NuGet Microsoft.ML.OnnxRuntimeGenAI.Cuda, pip onnxruntime-genai-cuda), or with OnnxSteer's " +
                                   "own generator from a CUDA build of OnnxSteer (docs/install.md).");
            return model;
        }
    }

    /// <summary>
    /// The ids generated after <paramref name="promptIds"/>, produced lazily, one per step, on the calling thread (the
    /// last one is the stop token when the model stopped by itself). Disposing the enumerator ends the generation and
    /// frees its state; cancelling stops between steps. At most <see cref="SamplingSettings.MaxTokens"/>, and never past
    /// <see cref="ContextLength"/>.
    /// </summary>
    /// <param name="promptIds">The prompt, at least one id.</param>
    /// <param name="sampling">How to decode.</param>
    /// <param name="logits">When given, receives the logit row behind each scored token: the prompt's, if it asks, then each generated token's.</param>
    /// <param name="activate">
    /// When given, called once with the new genai generator before the prompt goes in (to set an adapter, e.g. through
    /// <see cref="UseAdapterFile"/>). A lease it returns owns the generator: it is disposed at the end instead of the
    /// generator, and must dispose the generator itself.
    /// </param>
    /// <param name="cancellationToken">Stops the generation between steps.</param>
    /// <exception cref="InvalidParameterException">No prompt ids, or a sampling setting out of range.</exception>
    /// <exception cref="GenaiException">onnxruntime-genai failed.</exception>
    public IEnumerable<int> Generate(IReadOnlyList<int> promptIds, SamplingSettings sampling, ILogitsSink? logits = null,
        Func<GenaiGenerator, IDisposable?>? activate = null, CancellationToken cancellationToken = default)
    {
        sampling.Validate();
        if (promptIds.Count == 0) throw new InvalidParameterException("promptIds", $"{ErrorText.Param("promptIds")}: the prompt has no tokens; generation needs at least one (e.g. BOS)");
        return Run(promptIds, sampling, logits, activate, cancellationToken);
    }

    private IEnumerable<int> Run(IReadOnlyList<int> promptIds, SamplingSettings sampling, ILogitsSink? logits,
        Func<GenaiGenerator, IDisposable?>? activate, CancellationToken cancellationToken)
    {
        var (generator, owner) = Call(() => Start(promptIds.Count, sampling, activate));
        using var _ = owner;
        var prompt = promptIds.ToArray();
        for (var start = 0; start < prompt.Length; start += PrefillChunk)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(PrefillChunk, prompt.Length - start);
            Call(() =>
            {
                generator.AppendTokens(prompt.AsSpan(start, count));
                if (logits is { WantsPrompt: true }) GenaiLogits.PromptRows(generator, promptIds, start, count, logits);
                return 0;
            });
        }
        for (var produced = 0; produced < sampling.MaxTokens && !Call(generator.IsDone); produced++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var token = Call(() =>
            {
                generator.GenerateNextToken();
                var id = generator.GetSequence(0)[^1];
                if (logits is not null) GenaiLogits.StepRow(generator, id, logits);
                return id;
            });
            yield return token;
        }
    }

    /// <summary>The most rows onnxruntime-genai 0.20 takes in one batch (its <c>batch_size</c> bound).</summary>
    public const int MaxBatchRows = 32;

    /// <summary>
    /// Several prompts of one length as one onnxruntime-genai static batch (0.20's only kind: <c>batch_size</c> rows
    /// appended together and advanced together, one adapter for all): per step, the new id of every row, in prompt
    /// order, until every row is done or <see cref="SamplingSettings.MaxTokens"/> steps. A row that reached an EOS
    /// keeps being given genai's filler ids; the caller stops reading it. Greedy rows give the ids each prompt gives
    /// alone (tested token for token); sampled rows draw from one random stream, so they do not. The prompts go in
    /// with one call (genai 0.20 takes no second <c>AppendTokens</c> in a batch), not in <see cref="PrefillChunk"/>s:
    /// the prefill holds rows × length logit rows at once.
    /// </summary>
    /// <exception cref="InvalidParameterException">No prompts, more than <see cref="MaxBatchRows"/>, an empty prompt, or prompts of different lengths.</exception>
    /// <exception cref="GenaiException">onnxruntime-genai failed.</exception>
    public IEnumerable<int[]> GenerateBatch(IReadOnlyList<IReadOnlyList<int>> prompts, SamplingSettings sampling,
        Func<GenaiGenerator, IDisposable?>? activate = null, CancellationToken cancellationToken = default)
    {
        sampling.Validate();
        if (prompts.Count is 0 or > MaxBatchRows)
            throw new InvalidParameterException(nameof(prompts), $"prompts: {prompts.Count} rows; a batch takes 1 to {MaxBatchRows}");
        var length = prompts[0].Count;
        if (length == 0 || prompts.Any(p => p.Count != length))
            throw new InvalidParameterException(nameof(prompts), $"prompts: a batch takes prompts of one length, at least 1 token (left-padding would change the answers)");
        return RunBatch(prompts, length, sampling, activate, cancellationToken);
    }

    private IEnumerable<int[]> RunBatch(IReadOnlyList<IReadOnlyList<int>> prompts, int length, SamplingSettings sampling,
        Func<GenaiGenerator, IDisposable?>? activate, CancellationToken cancellationToken)
    {
        var rows = prompts.Count;
        var (generator, owner) = Call(() => Start(length, sampling, activate, rows));
        using var _ = owner;
        // One AppendTokens for the whole batch, rows end to end: genai 0.20 takes no second one when batch_size > 1,
        // so the prefill holds rows × length logit rows at once (the caller bounds that).
        cancellationToken.ThrowIfCancellationRequested();
        var all = new int[rows * length];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < length; c++) all[r * length + c] = prompts[r][c];
        Call(() => { generator.AppendTokens(all); return 0; });
        for (var produced = 0; produced < sampling.MaxTokens && !Call(generator.IsDone); produced++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var step = Call(() =>
            {
                generator.GenerateNextToken();
                var ids = new int[rows];
                for (var r = 0; r < rows; r++) ids[r] = generator.GetSequence((ulong)r)[^1];
                return ids;
            });
            yield return step;
        }
    }

    /// <summary>
    /// <see cref="Generate"/>, collected into a <see cref="GenerationResult"/> as <see cref="Generator.Generate"/> returns
    /// it, each id handed to <paramref name="onToken"/> as it comes; the stop reason is told as OnnxSteer's own loop tells
    /// it (EOS wins even when it is also the last allowed token).
    /// </summary>
    /// <param name="promptIds">The prompt's token ids.</param>
    /// <param name="sampling">Token limit and decoding (checked by <see cref="SamplingSettings.Validate"/>).</param>
    /// <param name="activate">Steers the generation (e.g. <see cref="UseAdapterFile"/>), or null; see <see cref="Generate"/>.</param>
    /// <param name="onToken">Called with each new id as it is produced, or null.</param>
    /// <param name="cancellationToken">Stops the generation.</param>
    /// <exception cref="InvalidParameterException">A sampling value is out of range.</exception>
    /// <exception cref="GenaiException">onnxruntime-genai failed.</exception>
    public GenerationResult Collect(IReadOnlyList<int> promptIds, SamplingSettings sampling, Func<GenaiGenerator, IDisposable?>? activate = null,
        Action<int>? onToken = null, CancellationToken cancellationToken = default)
    {
        sampling.Validate();
        var generated = new List<int>();
        foreach (var id in Generate(promptIds, sampling, null, activate, cancellationToken))
        {
            generated.Add(id);
            onToken?.Invoke(id);
        }
        var reason = generated.Count > 0 && EosTokenIds.Contains(generated[^1]) ? StopReason.EndOfSequence
            : generated.Count == sampling.MaxTokens ? StopReason.TokenLimit : StopReason.ContextLength;
        return new GenerationResult(promptIds.ToArray(), generated, reason);
    }

    /// <summary>A generator for these settings, with what disposes it: the activation's lease, or the generator itself.</summary>
    private (GenaiGenerator Generator, IDisposable Owner) Start(int promptLength, SamplingSettings sampling, Func<GenaiGenerator, IDisposable?>? activate,
        int rows = 1)
    {
        using var options = new GeneratorParams(Model);
        if (rows > 1) options.SetSearchOption("batch_size", rows);
        // max_length may not equal the prompt's length: a scoring request that generates nothing still asks for one more.
        var maxLength = (long)promptLength + Math.Max(1, sampling.MaxTokens);
        if (ContextLength is { } context && maxLength > context && promptLength < context) maxLength = context;
        options.SetSearchOption("max_length", maxLength);
        options.SetSearchOption("do_sample", sampling.IsSampling);
        if (sampling.IsSampling)
        {
            options.SetSearchOption("temperature", sampling.Temperature);
            options.SetSearchOption("top_k", sampling.TopK);
            options.SetSearchOption("top_p", sampling.TopP);
            if (sampling.Seed is { } seed) options.SetSearchOption("random_seed", seed);
        }
        var generator = new GenaiGenerator(Model, options);
        try
        {
            return (generator, activate?.Invoke(generator) ?? generator);
        }
        catch
        {
            generator.Dispose();
            throw;
        }
    }

    /// <summary>
    /// An activation (for <see cref="Generate"/>) that makes the .onnx_adapter file <paramref name="adapterFile"/>
    /// active for a generation; the file is loaded once (named by its full path) and stays loaded until the host is
    /// disposed.
    /// </summary>
    /// <exception cref="GenaiException">onnxruntime-genai could not load the adapter.</exception>
    public Func<GenaiGenerator, IDisposable?> UseAdapterFile(string adapterFile)
    {
        var name = Path.GetFullPath(adapterFile);
        lock (_adapterLock)
        {
            if (_loadedAdapters.Add(name))
            {
                try { Call(() => { _adapters.LoadAdapter(name, name); return 0; }); }
                catch { _loadedAdapters.Remove(name); throw; }
            }
        }
        return generator =>
        {
            Call(() => { generator.SetActiveAdapter(_adapters, name); return 0; });
            return null;
        };
    }

    /// <summary>
    /// Runs <paramref name="call"/>, turning onnxruntime-genai's error into a <see cref="GenaiException"/> naming this
    /// host's folder (for callers that use <see cref="Model"/> directly).
    /// </summary>
    public T Call<T>(Func<T> call) => Call(Folder, call);

    private static T Call<T>(string folder, Func<T> call)
    {
        try
        {
            return call();
        }
        catch (OnnxRuntimeGenAIException e)
        {
            throw new GenaiException(folder, e);
        }
    }

    /// <summary>Disposes the adapters and the model; no generation may be running.</summary>
    public void Dispose()
    {
        _adapters.Dispose();
        Model.Dispose();
    }
}
