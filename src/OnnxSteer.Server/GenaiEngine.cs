using Microsoft.ML.OnnxRuntimeGenAI;
using Generator = Microsoft.ML.OnnxRuntimeGenAI.Generator;
using OnnxSteer.Generation;
using OnnxSteer.HostFormats;
using OnnxSteer.Runtime;

namespace OnnxSteer.Server;

/// <summary>
/// onnxruntime-genai as the host of every request, through the library's <see cref="GenaiHost"/> (the one
/// <c>generate --engine genai</c> runs too): one host for the base model, and per profile one of its
/// <c>--switchable</c> patched folder with a <see cref="StrengthAdapters"/> set. A profile at strength 1 runs as
/// patched; any other strength activates, for that request's generator only, an .onnx_adapter that sets
/// <c>onnxsteer.strength</c> (genai 0.20 does not feed an overridable initializer through <c>SetModelInput</c>, but an
/// adapter's parameters override it by name). Strength 0 runs the base model, which computes the same. Composed steering
/// (several profiles, each at its strength) runs on <see cref="ComposedModel"/>: every profile file stacked, one
/// adapter per setting.
/// </summary>
public sealed class GenaiEngine : ILogitsEngine, IBatchEngine
{
    /// <summary>Strengths kept loaded per profile when no request uses them (see <see cref="StrengthAdapters"/>).</summary>
    public const int DefaultAdapterCapacity = 16;

    /// <summary>Prompt tokens appended per call, by every host (see <see cref="GenaiHost.PrefillChunk"/>).</summary>
    public int PrefillChunk
    {
        get => _base.PrefillChunk;
        init
        {
            foreach (var host in Hosts) host.PrefillChunk = value;
        }
    }

    private IEnumerable<GenaiHost> Hosts => [_base, .. _profiles.Values.Select(p => p.Host), .. _composed is null ? [] : new[] { _composed.Host }];

    private readonly GenaiHost _base;
    private readonly Dictionary<string, (GenaiHost Host, StrengthAdapters Strengths)> _profiles = new(StringComparer.Ordinal);
    private readonly DirectoryInfo _adapterFolder;
    private Tokenizer? _templateTokenizer;
    private ComposedModel? _composed;

    /// <summary>
    /// Opens <paramref name="baseFolder"/> and each profile's patched folder (both with a genai_config.json; the profiles
    /// patched with <c>--switchable</c>), with <paramref name="runtime"/>'s threads and notices (default:
    /// <see cref="RuntimeSettings.Default"/>). Adapter files go to a private temporary folder, removed on dispose.
    /// </summary>
    /// <exception cref="GenaiException">onnxruntime-genai refused a model.</exception>
    public GenaiEngine(string baseFolder, IReadOnlyDictionary<string, string> patchedFolders, int adapterCapacity = DefaultAdapterCapacity,
        SteeredModels.ComposedFolder? composed = null, RuntimeSettings? runtime = null)
    {
        runtime ??= RuntimeSettings.Default;
        _base = GenaiHost.Open(baseFolder, runtime);
        _adapterFolder = ServeTempFolders.Create("adapters");
        try
        {
            foreach (var (name, folder) in patchedFolders)
            {
                StrengthAdapter.RequireStrengthInput(folder);
                var host = GenaiHost.Open(folder, runtime);
                _profiles[name] = (host, new StrengthAdapters(host.Model, _adapterFolder.FullName, name + "-", adapterCapacity));
            }
            if (composed is not null) _composed = new ComposedModel(composed.Folder, composed.Profiles, _adapterFolder.FullName, adapterCapacity, runtime);
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
        var (host, activate) = Pick(steering);
        return host.Generate(promptIds, sampling, logits, activate, cancellationToken);
    }

    /// <summary>
    /// Several prompts of one length under one steering setting as one genai batch (<see cref="GenaiHost.GenerateBatch"/>):
    /// per step, one id per row. Greedy rows give what <see cref="Generate(IReadOnlyList{int}, SteeringChoice, SamplingSettings, CancellationToken)"/> gives each alone.
    /// </summary>
    public IEnumerable<int[]> GenerateBatch(IReadOnlyList<IReadOnlyList<int>> prompts, SteeringChoice steering, SamplingSettings sampling,
        CancellationToken cancellationToken)
    {
        var (host, activate) = Pick(steering);
        return host.GenerateBatch(prompts, sampling, activate, cancellationToken);
    }

    /// <summary>The host that runs <paramref name="steering"/>, and what activates its adapter on a generator (null: none needed).</summary>
    private (GenaiHost Host, Func<Generator, IDisposable?>? Activate) Pick(SteeringChoice steering)
    {
        if (!Serves(steering)) throw new ArgumentException($"genai cannot apply {steering}", nameof(steering));
        var host = steering.Steps is not null ? _composed!.Host : steering.IsVanilla ? _base : _profiles[steering.Profile!].Host;
        // The lease disposes the generator itself, under the adapter set's lock, before letting the adapter go.
        Func<Generator, IDisposable?>? activate = steering.Steps is { } steps ? generator => _composed!.Activate(generator, steps)
            : steering.IsVanilla || steering.Strength == 1f ? null
            : generator => _profiles[steering.Profile!].Strengths.Activate(generator, steering.Strength);
        return (host, activate);
    }

    /// <summary>
    /// Renders chat messages (a JSON array of role/content objects) with the base model's chat template, adding the
    /// assistant's generation prompt. Calls are serialised: genai's tokenizer is not documented as thread-safe.
    /// </summary>
    public Func<string, string> CreateChatTemplate()
    {
        _templateTokenizer ??= _base.Call(() => new Tokenizer(_base.Model));
        var tokenizer = _templateTokenizer;
        var gate = new object();
        return messagesJson =>
        {
            lock (gate) return tokenizer.ApplyChatTemplate(null, messagesJson, null, true);
        };
    }

    public void Dispose()
    {
        foreach (var (host, strengths) in _profiles.Values)
        {
            strengths.Dispose();
            host.Dispose();
        }
        _profiles.Clear();
        _composed?.Dispose();
        _templateTokenizer?.Dispose();
        _base?.Dispose();
        try { _adapterFolder?.Delete(recursive: true); }
        catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
