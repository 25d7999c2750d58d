using Microsoft.ML.OnnxRuntimeGenAI;
using OnnxSteer.HostFormats;

namespace OnnxSteer.Server;

/// <summary>
/// The strengths one switchable genai <see cref="Model"/> has been asked for, each an .onnx_adapter holding
/// <c>onnxsteer.strength</c> (<see cref="StrengthAdapter.Write"/>), cached by
/// <see cref="AdapterCache{TKey}"/> keyed by the strength: at most <see cref="Capacity"/> idle ones stay loaded.
/// </summary>
public sealed class StrengthAdapters : IDisposable
{
    private readonly AdapterCache<float> _cache;

    /// <summary>An adapter set for <paramref name="model"/>, its files named <paramref name="prefix"/>… in <paramref name="folder"/>.</summary>
    public StrengthAdapters(Model model, string folder, string prefix, int capacity) =>
        // Named by the float's bits: distinct strengths never share a name, and the name is file-safe.
        _cache = new AdapterCache<float>(model, folder, prefix, capacity,
            strength => $"strength-{BitConverter.SingleToUInt32Bits(strength):x8}", (strength, file) => StrengthAdapter.Write(file, strength));

    /// <summary>How many strengths stay loaded when no generator holds them.</summary>
    public int Capacity => _cache.Capacity;

    /// <summary>The strengths loaded now (for tests and logs).</summary>
    public IReadOnlyCollection<float> Loaded => _cache.Loaded;

    /// <summary>
    /// Makes <paramref name="strength"/> active for <paramref name="generator"/> (loading its adapter if needed). The
    /// returned lease owns the generator: disposing it disposes the generator, then lets the adapter go.
    /// </summary>
    public IDisposable Activate(Generator generator, float strength)
    {
        if (!float.IsFinite(strength)) throw new ArgumentOutOfRangeException(nameof(strength), strength, "a strength must be finite");
        return _cache.Activate(generator, strength);
    }

    public void Dispose() => _cache.Dispose();
}
