using Microsoft.ML.OnnxRuntimeGenAI;

namespace OnnxSteer.Server;

/// <summary>
/// onnxruntime-genai as the host: one genai <see cref="Model"/> for the base model and one per profile (its
/// <c>--switchable</c> patched folder, run at the strength it was patched with, 1). Serves the vanilla model and each
/// profile at strength 1; other strengths need a host that feeds <c>onnxsteer.strength</c> per run, which genai 0.20
/// does not (it lists no overridable initializer among the model's inputs).
/// </summary>
public sealed class GenaiEngine : IGenerationEngine
{
    private readonly Model _base;
    private readonly Dictionary<string, Model> _profiles = new(StringComparer.Ordinal);
    private Tokenizer? _templateTokenizer;

    /// <summary>Opens <paramref name="baseFolder"/> and each profile's patched folder (both with a genai_config.json).</summary>
    public GenaiEngine(string baseFolder, IReadOnlyDictionary<string, string> patchedFolders)
    {
        _base = Open(baseFolder);
        try
        {
            foreach (var (name, folder) in patchedFolders) _profiles[name] = Open(folder);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Name => "genai";

    public bool Serves(SteeringChoice steering) =>
        steering.IsVanilla || (steering.Strength == 1f && _profiles.ContainsKey(steering.Profile!));

    public IEnumerable<int> Generate(IReadOnlyList<int> promptIds, SteeringChoice steering, SamplingSettings sampling, CancellationToken cancellationToken)
    {
        if (!Serves(steering)) throw new ArgumentException($"genai cannot apply {steering}", nameof(steering));
        var model = steering.IsVanilla ? _base : _profiles[steering.Profile!];
        using var options = new GeneratorParams(model);
        options.SetSearchOption("max_length", promptIds.Count + sampling.MaxTokens);
        options.SetSearchOption("do_sample", sampling.Temperature > 0);
        if (sampling.Temperature > 0)
        {
            options.SetSearchOption("temperature", sampling.Temperature);
            options.SetSearchOption("top_p", sampling.TopP);
            options.SetSearchOption("top_k", 0);
            if (sampling.Seed is { } seed) options.SetSearchOption("random_seed", seed);
        }
        using var generator = new Generator(model, options);
        generator.AppendTokens(promptIds.ToArray());
        for (var produced = 0; produced < sampling.MaxTokens && !generator.IsDone(); produced++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            generator.GenerateNextToken();
            yield return LastToken(generator);
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
        try { return new Model(folder); }
        catch (OnnxRuntimeGenAIException e)
        {
            throw new InvalidModelException($"{folder}: onnxruntime-genai cannot load it: {e.Message}");
        }
    }

    public void Dispose()
    {
        foreach (var m in _profiles.Values) m.Dispose();
        _profiles.Clear();
        _templateTokenizer?.Dispose();
        _base?.Dispose();
    }
}
