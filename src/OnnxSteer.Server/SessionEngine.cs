using Microsoft.ML.OnnxRuntime;
using OnnxSteer.Generation;
using OnnxSteer.Patching;
using OnnxSteer.Runtime;

namespace OnnxSteer.Server;

/// <summary>
/// OnnxSteer's own generation loop (<see cref="Generator"/> over <see cref="DecoderModel"/>) as the host: one ONNX
/// Runtime session per profile's <c>--switchable</c> patched model, shared by all requests, and the strength fed as the
/// <c>onnxsteer.strength</c> input of each run. Each request gets its own <see cref="DecoderModel"/> view of the shared
/// session, so the strength it feeds is never seen by another request. Serves any profile at any strength.
/// </summary>
public sealed class SessionEngine : IGenerationEngine
{
    private readonly Dictionary<string, DecoderModel> _profiles = new(StringComparer.Ordinal);

    /// <summary>Opens each profile's patched model (a folder or .onnx file made with <c>--switchable</c>).</summary>
    public SessionEngine(IReadOnlyDictionary<string, string> patchedModels, RuntimeSettings? runtime = null)
    {
        try
        {
            foreach (var (name, path) in patchedModels)
            {
                var model = DecoderModel.Open(path, runtime);
                _profiles[name] = model;
                if (!model.Session.OverridableInitializerMetadata.ContainsKey(SwitchableSteering.StrengthName))
                    throw new InvalidModelException($"{path}: not patched with --switchable (no '{SwitchableSteering.StrengthName}')");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Name => "onnxsteer";

    /// <summary>Stop tokens of the models (all profiles patch the same base model).</summary>
    public IReadOnlyList<int> EosTokenIds => _profiles.Values.FirstOrDefault()?.Layout.EosTokenIds ?? [];

    public bool Serves(SteeringChoice steering) => steering.Profile is { } p && _profiles.ContainsKey(p);

    public IEnumerable<int> Generate(IReadOnlyList<int> promptIds, SteeringChoice steering, SamplingSettings sampling, CancellationToken cancellationToken)
    {
        if (!Serves(steering)) throw new ArgumentException($"no switchable model for {steering}", nameof(steering));
        var shared = _profiles[steering.Profile!];
        using var view = new DecoderModel(shared.Session, shared.Layout, shared.Config, ownsSession: false);
        using var strength = OrtValue.CreateTensorValueFromMemory(new[] { steering.Strength }, SwitchableSteering.StrengthShape);
        view.SetModelInput(SwitchableSteering.StrengthName, strength);
        var options = new GenerationOptions
        {
            MaxNewTokens = sampling.MaxTokens,
            Temperature = sampling.Temperature,
            TopP = sampling.TopP,
            Seed = sampling.Seed,
        };
        foreach (var id in new Generator(view).Stream(promptIds, options, cancellationToken)) yield return id;
    }

    public void Dispose()
    {
        foreach (var m in _profiles.Values) m.Dispose();
        _profiles.Clear();
    }
}
