using Microsoft.ML.OnnxRuntimeGenAI;
using GenaiConfigFile = OnnxSteer.Generation.GenaiConfigFile;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Runtime;

namespace OnnxSteer.Server;

/// <summary>
/// onnxruntime-genai as the host of every request: one genai <see cref="Model"/> for the base model, and per profile one
/// of its <c>--switchable</c> patched folder with a <see cref="StrengthAdapters"/> set. A profile at strength 1 runs as
/// patched; any other strength activates, for that request's generator only, an .onnx_adapter that sets
/// <c>onnxsteer.strength</c> (genai 0.20 does not feed an overridable initializer through <c>SetModelInput</c>, but an
/// adapter's parameters override it by name). Strength 0 runs the base model, which computes the same. Composed steering
/// (several profiles, each at its strength) runs on <see cref="ComposedModel"/>: every profile file stacked, one
/// adapter per setting.
/// </summary>
public sealed partial class GenaiEngine : ILogitsEngine
{
    /// <summary>Strengths kept loaded per profile when no request uses them (see <see cref="StrengthAdapters"/>).</summary>
    public const int DefaultAdapterCapacity = 16;

    /// <summary>Prompt tokens appended per call (see <see cref="PromptBudget.PrefillChunk"/>).</summary>
    public int PrefillChunk { get; init; } = PromptBudget.PrefillChunk;

    private readonly Model _base;
    private readonly Dictionary<string, (Model Model, StrengthAdapters Strengths)> _profiles = new(StringComparer.Ordinal);
    private readonly DirectoryInfo _adapterFolder;
    private Tokenizer? _templateTokenizer;
    private ComposedModel? _composed;

    /// <summary>
    /// Opens <paramref name="baseFolder"/> and each profile's patched folder (both with a genai_config.json; the profiles
    /// patched with <c>--switchable</c>). Adapter files go to a private temporary folder, removed on dispose.
    /// </summary>
    public GenaiEngine(string baseFolder, IReadOnlyDictionary<string, string> patchedFolders, int adapterCapacity = DefaultAdapterCapacity,
        SteeredModels.ComposedFolder? composed = null)
    {
        _base = Open(baseFolder);
        _adapterFolder = ServeTempFolders.Create("adapters");
        try
        {
            foreach (var (name, folder) in patchedFolders)
            {
                var modelFile = Path.Combine(folder, GenaiConfigFile.TryRead(folder)?.ModelFileName ?? "model.onnx");
                SwitchableSteering.RequireAdapterStrength(OnnxModel.Load(modelFile, checkExternalData: false).Graph, folder);
                var model = Open(folder);
                _profiles[name] = (model, new StrengthAdapters(model, _adapterFolder.FullName, name + "-", adapterCapacity));
            }
            if (composed is not null) _composed = new ComposedModel(composed.Folder, composed.Profiles, _adapterFolder.FullName, adapterCapacity);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Name => "genai";

    public bool Serves(SteeringChoice steering) => steering.Steps is { } steps ? _composed?.Composes(steps) == true
        : steering.IsVanilla || _profiles.ContainsKey(steering.Profile!);

    /// <summary>The composed settings whose adapters are loaded now (every profile's strength, as float bits).</summary>
    public IReadOnlyCollection<string> LoadedCompositions => _composed?.LoadedSettings ?? [];

    /// <summary>The strengths whose adapters <paramref name="profile"/> holds loaded now.</summary>
    public IReadOnlyCollection<float> LoadedStrengths(string profile) => _profiles[profile].Strengths.Loaded;

    public IEnumerable<int> Generate(IReadOnlyList<int> promptIds, SteeringChoice steering, SamplingSettings sampling, CancellationToken cancellationToken) =>
        Generate(promptIds, steering, sampling, null, cancellationToken);

    /// <summary>
    /// <see cref="Generate(IReadOnlyList{int}, SteeringChoice, SamplingSettings, CancellationToken)"/>, also handing
    /// <paramref name="logits"/> (when given) the logit rows the tokens were scored with: the prompt's, if it asks for
    /// them, then the row each generated token was chosen from.
    /// </summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> promptIds, SteeringChoice steering, SamplingSettings sampling, ILogitsSink? logits,
        CancellationToken cancellationToken)
    {
        if (!Serves(steering)) throw new ArgumentException($"genai cannot apply {steering}", nameof(steering));
        var model = steering.Steps is not null ? _composed!.Model : steering.IsVanilla ? _base : _profiles[steering.Profile!].Model;
        using var options = new GeneratorParams(model);
        // max_length may not equal the prompt's length: a scoring request that generates nothing still asks for one more.
        options.SetSearchOption("max_length", promptIds.Count + Math.Max(1, sampling.MaxTokens));
        options.SetSearchOption("do_sample", sampling.Temperature > 0);
        if (sampling.Temperature > 0)
        {
            options.SetSearchOption("temperature", sampling.Temperature);
            options.SetSearchOption("top_p", sampling.TopP);
            options.SetSearchOption("top_k", 0);
            if (sampling.Seed is { } seed) options.SetSearchOption("random_seed", seed);
        }
        using var generator = new Generator(model, options);
        // The lease disposes the generator itself, under the adapter set's lock, before letting the adapter go.
        using var adapter = steering.Steps is { } steps ? _composed!.Activate(generator, steps)
            : steering.IsVanilla || steering.Strength == 1f ? null
            : _profiles[steering.Profile!].Strengths.Activate(generator, steering.Strength);
        // The prompt in chunks: each AppendTokens runs the model over its tokens and keeps their logits, so one call
        // for a long prompt holds prompt × vocabulary floats (and activations of that length) at once.
        var prompt = promptIds.ToArray();
        for (var start = 0; start < prompt.Length; start += PrefillChunk)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(PrefillChunk, prompt.Length - start);
            generator.AppendTokens(prompt.AsSpan(start, count));
            if (logits is { WantsPrompt: true }) PromptRows(generator, promptIds, start, count, logits);
        }
        for (var produced = 0; produced < sampling.MaxTokens && !generator.IsDone(); produced++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            generator.GenerateNextToken();
            var token = LastToken(generator);
            if (logits is not null) StepRow(generator, token, logits);
            yield return token;
        }
    }

    /// <summary>
    /// Renders chat messages (a JSON array of role/content objects) with the base model's chat template, adding the
    /// assistant's generation prompt. Calls are serialised: genai's tokenizer is not documented as thread-safe.
    /// </summary>
    public Func<string, string> CreateChatTemplate()
    {
        _templateTokenizer ??= new Tokenizer(_base);
        var tokenizer = _templateTokenizer;
        var gate = new object();
        return messagesJson =>
        {
            lock (gate) return tokenizer.ApplyChatTemplate(null, messagesJson, null, true);
        };
    }

    private static int LastToken(Generator generator)
    {
        var sequence = generator.GetSequence(0);
        return sequence[^1];
    }

    private static Model Open(string folder)
    {
        try
        {
            // The usable CPUs, as the other commands' default: genai would otherwise take the folder's settings.
            using var config = new Config(folder);
            config.Overlay(RuntimeSettings.Default.GenaiConfigOverlay());
            return new Model(config);
        }
        catch (OnnxRuntimeGenAIException e)
        {
            throw new InvalidModelException($"{folder}: onnxruntime-genai cannot load it: {e.Message}");
        }
    }

    public void Dispose()
    {
        foreach (var (model, strengths) in _profiles.Values)
        {
            strengths.Dispose();
            model.Dispose();
        }
        _profiles.Clear();
        _composed?.Dispose();
        _templateTokenizer?.Dispose();
        _base?.Dispose();
        try { _adapterFolder?.Delete(recursive: true); }
        catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
