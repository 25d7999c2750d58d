using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntimeGenAI;
using Generator = Microsoft.ML.OnnxRuntimeGenAI.Generator;
using OnnxSteer.Generation;
using OnnxSteer.HostFormats;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Runtime;


namespace OnnxSteer.Server;

/// <summary>One step of composed steering: a profile loaded at start and the strength to apply it at.</summary>
public sealed record ProfileStrength(string Profile, float Strength);

/// <summary>
/// Reads composed steering, <c>"steering": [{"profile": "happy", "strength": 1}, {"profile": "formal", "strength": -0.5}]</c>:
/// two to <see cref="MaxSteps"/> different profiles, each at its own strength. Steps at strength 0 do nothing and are
/// dropped; what is left is vanilla, one profile, or a composed <see cref="SteeringChoice"/>.
/// </summary>
public static class ComposedSteeringRequest
{
    /// <summary>Most steps one request may compose.</summary>
    public const int MaxSteps = 8;

    internal static SteeringChoice Read(JsonElement steps, ServeLimits limits)
    {
        if (steps.GetArrayLength() is 0 or > MaxSteps)
            throw ApiError.Bad($"steering: a list of 1 to {MaxSteps} {{\"profile\", \"strength\"}} objects", "steering");
        var list = new List<ProfileStrength>();
        foreach (var step in steps.EnumerateArray())
        {
            var at = $"steering[{list.Count}]";
            if (step.ValueKind != JsonValueKind.Object) throw ApiError.Bad($"{at} must be an object: {{\"profile\": NAME, \"strength\": S}}", at);
            foreach (var p in step.EnumerateObject())
                if (p.Name is not ("profile" or "strength")) throw ApiError.Bad($"{at}.{p.Name}: unknown field (profile and strength are)", at);
            if (!step.TryGetProperty("profile", out var profile) || profile.ValueKind != JsonValueKind.String)
                throw ApiError.Bad($"{at}.profile must be the name of a profile the server loaded", $"{at}.profile");
            var name = profile.GetString()!;
            if (list.Any(s => s.Profile == name)) throw ApiError.Bad($"{at}.profile: '{name}' is already a step; name each profile once", $"{at}.profile");
            var strength = ApiRequest.OptionalNumber(step, "strength", -limits.MaxStrength, limits.MaxStrength, label: $"{at}.strength") ?? 1f;
            list.Add(new ProfileStrength(name, strength));
        }
        return SteeringChoice.Compose(list);
    }
}

/// <summary>
/// The model composed steering runs on: the base model patched <c>--switchable</c> with every loaded profile file,
/// stacked, one step per profile in <see cref="Profiles"/> order. Each step's per-site vectors are overridable
/// initializers, so one .onnx_adapter per request setting gives every step its own strength: step j at strength s gets
/// the vector its switch computes at s — <c>1 + s·(v − 1)</c> for scaling, <c>s·c</c> for adding, in the site's
/// element type, operation by operation as the graph does — and a profile the request leaves out gets strength 0 (the
/// identity). The graph's shared strength stays 1, where each switch reads its vector as given. So a request computes
/// exactly what the stacked model computes with each step at its own strength.
/// </summary>
public sealed class ComposedModel : IDisposable
{
    private readonly IReadOnlyList<StepVectors> _steps;
    private readonly AdapterCache<string> _adapters;

    /// <summary>The profiles, in the order their steps are stacked (and applied).</summary>
    public IReadOnlyList<string> Profiles { get; }

    /// <summary>The genai host of the stacked folder.</summary>
    internal GenaiHost Host { get; }

    /// <summary>The settings (every profile's strength) whose adapters are loaded now.</summary>
    public IReadOnlyCollection<string> LoadedSettings => _adapters.Loaded;

    private sealed record SiteVector(string Name, int ElementType, long[] Dims, float[] Values);

    private sealed record StepVectors(bool Scale, IReadOnlyList<SiteVector> Sites);

    /// <summary>
    /// Opens <paramref name="folder"/>, a model stacked by <see cref="SteeredModels"/> with one switchable step per name
    /// of <paramref name="profiles"/>, in order; adapters go to <paramref name="adapterFolder"/>.
    /// </summary>
    internal ComposedModel(string folder, IReadOnlyList<string> profiles, string adapterFolder, int capacity, RuntimeSettings runtime)
    {
        var file = ModelLocator.GenaiModelFile(folder);
        var onnx = OnnxModel.Load(file, checkExternalData: false);
        var steps = SteeringMetadata.Read(onnx.Proto, file);
        if (steps.Count != profiles.Count || steps.Any(s => s.Switchable != true))
            throw new InvalidModelException($"{folder}: expected {profiles.Count} switchable steps, found {steps.Count}");
        var initializers = onnx.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        _steps = [.. steps.Select(step => new StepVectors(step.Operation == "scale", [.. step.Edits.Select(edit =>
        {
            var tensor = initializers[edit.Initializer!];
            return new SiteVector(tensor.Name, tensor.DataType, [.. tensor.Dims], ElementEncoding.Decode(TensorData.ReadBytes(tensor, onnx), tensor.DataType));
        })]))];
        Profiles = profiles;
        Host = GenaiHost.Open(folder, runtime);
        _adapters = new AdapterCache<string>(Host.Model, adapterFolder, "composed-", capacity, Name, Parameters);
    }

    /// <summary>Whether every step of <paramref name="steps"/> names a profile of this model.</summary>
    public bool Composes(IReadOnlyList<ProfileStrength> steps) => steps.All(s => Profiles.Contains(s.Profile));

    /// <summary>Makes <paramref name="steps"/> active for <paramref name="generator"/>; the lease owns the generator.</summary>
    public IDisposable Activate(Generator generator, IReadOnlyList<ProfileStrength> steps) => _adapters.Activate(generator, Key(steps));

    /// <summary>The cache key: every profile's strength (0 when left out), by its float bits, in step order.</summary>
    private string Key(IReadOnlyList<ProfileStrength> steps) =>
        string.Join(",", Profiles.Select(p => BitConverter.SingleToUInt32Bits(steps.FirstOrDefault(s => s.Profile == p)?.Strength ?? 0f).ToString("x8", CultureInfo.InvariantCulture)));

    private static float[] Strengths(string key) =>
        [.. key.Split(',').Select(bits => BitConverter.UInt32BitsToSingle(uint.Parse(bits, NumberStyles.HexNumber, CultureInfo.InvariantCulture)))];

    // A key is short for a few profiles; past that, its hash (distinct keys, distinct names, file-safe either way).
    private static string Name(string key) => key.Length <= 80 ? key.Replace(',', '-')
        : Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(key)));

    private IReadOnlyList<OnnxAdapterParameter> Parameters(string key)
    {
        var strengths = Strengths(key);
        var parameters = new List<OnnxAdapterParameter>();
        for (var j = 0; j < _steps.Count; j++)
            foreach (var site in _steps[j].Sites)
                parameters.Add(new OnnxAdapterParameter(site.Name, site.Dims, site.ElementType,
                    ElementEncoding.Encode(Switched(site, _steps[j].Scale, strengths[j]), site.ElementType)));
        return parameters;
    }

    /// <summary>
    /// What a switch computes from <paramref name="site"/>'s vector at <paramref name="strength"/>: scaling
    /// <c>Add(Mul(Sub(v, 1), s), 1)</c> (v itself at 1), adding <c>Mul(c, s)</c>, each operation rounded to the site's
    /// element type as the graph rounds it.
    /// </summary>
    private static float[] Switched(SiteVector site, bool scale, float strength)
    {
        if (scale && strength == 1f) return site.Values;
        var type = site.ElementType;
        float Round(float v) => ElementEncoding.RoundTrip(v, type);
        var s = Round(strength);
        return [.. site.Values.Select(v => scale ? Round(Round(Round(v - 1f) * s) + 1f) : Round(v * s))];
    }

    public void Dispose()
    {
        _adapters.Dispose();
        Host.Dispose();
    }
}
