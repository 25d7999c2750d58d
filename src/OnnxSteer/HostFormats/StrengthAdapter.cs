using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;

namespace OnnxSteer.HostFormats;

/// <summary>
/// The strength of a model patched with switchable (<c>patch --switchable</c>): the float32 [1] input
/// <see cref="InputName"/> (default 1) that scales every site's steering, and the .onnx_adapter files that set it per
/// generator in onnxruntime-genai (<c>Adapters.LoadAdapter</c>, <c>Generator.SetActiveAdapter</c>) or per run in ONNX
/// Runtime (<c>OrtLoraAdapter</c>).
/// </summary>
public static class StrengthAdapter
{
    /// <summary>The name of the strength input a switchable model declares (an overridable initializer).</summary>
    public const string InputName = SwitchableSteering.StrengthName;

    private const int Float = (int)TensorProto.Types.DataType.Float;

    /// <summary>
    /// Checks that <paramref name="model"/> (a .onnx file or its folder) declares <see cref="InputName"/> as an
    /// overridable [1] tensor, as this version patches it, so an adapter can set it. Reads no weights.
    /// </summary>
    /// <exception cref="InvalidModelException">The model is missing or malformed, not switchable, or declares an older [] strength.</exception>
    public static void RequireStrengthInput(string model) =>
        SwitchableSteering.RequireAdapterStrength(OnnxModel.Load(ModelLocator.Resolve(model), checkExternalData: false).Graph, model);

    /// <summary>Writes <paramref name="adapterFile"/>, an .onnx_adapter that sets the strength to <paramref name="strength"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="strength"/> is not finite.</exception>
    public static void Write(string adapterFile, float strength)
    {
        if (!float.IsFinite(strength)) throw new ArgumentOutOfRangeException(nameof(strength), strength, "a strength must be finite");
        OnnxAdapterFile.Write(adapterFile, [Parameter(strength)]);
    }

    /// <summary>
    /// The parameter that sets <see cref="SwitchableSteering.StrengthName"/> to <paramref name="strength"/>: an .onnx_adapter
    /// holding it (<see cref="OnnxAdapterFile"/>) changes the strength for the generators or runs it is active in.
    /// </summary>
    internal static OnnxAdapterParameter Parameter(float strength) =>
        new(SwitchableSteering.StrengthName, SwitchableSteering.StrengthShape, Float, ElementEncoding.Encode([strength], Float));
}
