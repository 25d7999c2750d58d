using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntimeGenAI;
using Generator = Microsoft.ML.OnnxRuntimeGenAI.Generator;
using OnnxSteer.Generation;
using OnnxSteer.HostFormats;
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
/// stacked, one step per profile in <see cref="Profiles"/> order. One .onnx_adapter per request setting gives every
/// step its own strength (<see cref="StepAdapters"/>: the vector each step's switch computes at its strength); a
/// profile the request leaves out gets strength 0 (the identity). So a request computes exactly what the stacked model
/// computes with each step at its own strength.
/// </summary>
public sealed class ComposedModel : IDisposable
{
    private readonly StepAdapters _steps;
    private readonly AdapterCache<string> _adapters;

    /// <summary>The profiles, in the order their steps are stacked (and applied).</summary>
    public IReadOnlyList<string> Profiles { get; }

    /// <summary>The genai host of the stacked folder.</summary>
    internal GenaiHost Host { get; }

    /// <summary>The settings (every profile's strength) whose adapters are loaded now.</summary>
    public IReadOnlyCollection<string> LoadedSettings => _adapters.Loaded;

    /// <summary>
    /// Opens <paramref name="folder"/>, a model stacked by <see cref="SteeredModels"/> with one switchable step per name
    /// of <paramref name="profiles"/>, in order; adapters go to <paramref name="adapterFolder"/>.
    /// </summary>
    internal ComposedModel(string folder, IReadOnlyList<string> profiles, string adapterFolder, int capacity, RuntimeSettings runtime)
    {
        _steps = StepAdapters.Read(folder);
        if (_steps.StepCount != profiles.Count)
            throw new InvalidModelException($"{folder}: expected {profiles.Count} switchable steps, found {_steps.StepCount}");
        Profiles = profiles;
        Host = GenaiHost.Open(folder, runtime);
        _adapters = new AdapterCache<string>(Host.Model, adapterFolder, "composed-", capacity, Name, (key, file) => _steps.Write(file, Strengths(key)));
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

    public void Dispose()
    {
        _adapters.Dispose();
        Host.Dispose();
    }
}
