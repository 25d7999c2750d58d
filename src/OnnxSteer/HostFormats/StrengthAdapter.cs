using Onnx;
using OnnxSteer.Patching;

namespace OnnxSteer.HostFormats;

/// <summary>The strength of a <c>--switchable</c> model as an .onnx_adapter parameter, the way onnxruntime-genai sets it per generator.</summary>
internal static class StrengthAdapter
{
    private const int Float = (int)TensorProto.Types.DataType.Float;

    /// <summary>
    /// The parameter that sets <see cref="SwitchableSteering.StrengthName"/> to <paramref name="strength"/>: an .onnx_adapter
    /// holding it (<see cref="OnnxAdapterFile"/>) changes the strength for the generators or runs it is active in.
    /// </summary>
    public static OnnxAdapterParameter Parameter(float strength) =>
        new(SwitchableSteering.StrengthName, SwitchableSteering.StrengthShape, Float, ElementEncoding.Encode([strength], Float));
}
