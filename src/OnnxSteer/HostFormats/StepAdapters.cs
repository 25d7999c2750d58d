using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;

namespace OnnxSteer.HostFormats;

/// <summary>
/// The .onnx_adapter files that give each step of a stacked switchable model its own strength: a model patched
/// switchable several times, stacked (<c>patch --switchable --stack</c>), one step per profile. Each step's per-site vectors are overridable initializers, so an adapter can set, for every step j at
/// strength s_j, the vector that step's switch computes at s_j — <c>1 + s·(v − 1)</c> for scaling, <c>s·c</c> for
/// adding, in the site's element type, operation by operation as the graph does (v itself at 1) — while the shared
/// <see cref="StrengthAdapter.InputName"/> stays 1, where each switch reads its vector as given. A generator running
/// with the adapter computes exactly what the stacked model computes with each step at its own strength; strength 0
/// is the identity for that step. An immutable value: it holds the steps' vectors, no file or native handle.
/// </summary>
public sealed class StepAdapters
{
    private readonly IReadOnlyList<StepVectors> _steps;

    private sealed record SiteVector(string Name, int ElementType, long[] Dims, float[] Values);

    private sealed record StepVectors(bool Scale, IReadOnlyList<SiteVector> Sites);

    private StepAdapters(IReadOnlyList<StepVectors> steps) => _steps = steps;

    /// <summary>How many steps the model stacks (oldest first: the order of the strengths <see cref="Write"/> takes).</summary>
    public int StepCount => _steps.Count;

    /// <summary>
    /// Reads the steering steps recorded in <paramref name="model"/> (a .onnx file or its folder) and their vectors.
    /// </summary>
    /// <exception cref="InvalidModelException">The model is missing or malformed, or one of its steps was not patched switchable.</exception>
    public static StepAdapters Read(string model)
    {
        var file = ModelLocator.Resolve(model);
        var onnx = OnnxModel.Load(file, checkExternalData: false);
        var steps = SteeringMetadata.Read(onnx.Proto, file);
        for (var j = 0; j < steps.Count; j++)
            if (steps[j].Switchable != true)
                throw new InvalidModelException($"{model}: step {j + 1} of {steps.Count} was not patched switchable, so its strength cannot be set");
        var initializers = onnx.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        return new StepAdapters([.. steps.Select(step => new StepVectors(step.Operation == "scale", [.. step.Edits.Select(edit =>
        {
            var tensor = initializers[edit.Initializer!];
            return new SiteVector(tensor.Name, tensor.DataType, [.. tensor.Dims], ElementEncoding.Decode(TensorData.ReadBytes(tensor, onnx), tensor.DataType));
        })]))]);
    }

    /// <summary>Writes <paramref name="adapterFile"/>, setting step j to <paramref name="strengths"/>[j] (oldest step first).</summary>
    /// <exception cref="ArgumentException">Not one strength per step, or one is not finite.</exception>
    public void Write(string adapterFile, IReadOnlyList<float> strengths)
    {
        if (strengths.Count != _steps.Count)
            throw new ArgumentException($"{strengths.Count} strength(s) for {_steps.Count} step(s): give one per step", nameof(strengths));
        if (strengths.Any(s => !float.IsFinite(s))) throw new ArgumentException("a strength must be finite", nameof(strengths));
        var parameters = new List<OnnxAdapterParameter>();
        for (var j = 0; j < _steps.Count; j++)
            foreach (var site in _steps[j].Sites)
                parameters.Add(new OnnxAdapterParameter(site.Name, site.Dims, site.ElementType,
                    ElementEncoding.Encode(Switched(site, _steps[j].Scale, strengths[j]), site.ElementType)));
        OnnxAdapterFile.Write(adapterFile, parameters);
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
}
