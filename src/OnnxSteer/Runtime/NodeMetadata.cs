namespace OnnxSteer.Runtime;

/// <summary>
/// The declared type of a session input or output. For tensors, <see cref="Dimensions"/> holds -1 where a dimension is
/// symbolic or unknown, and <see cref="SymbolicDimensions"/> its name ("" for fixed dimensions).
/// </summary>
public sealed record NodeMetadata(
    OnnxValueType OnnxValueType,
    TensorElementType ElementType,
    IReadOnlyList<long> Dimensions,
    IReadOnlyList<string> SymbolicDimensions)
{
    /// <summary>Whether the value is a tensor.</summary>
    public bool IsTensor => OnnxValueType == OnnxValueType.Tensor;

    /// <summary>The shape as text, symbolic names in place of -1: e.g. [batch_size,1,past_sequence_length,16].</summary>
    public string ShapeText =>
        "[" + string.Join(",", Dimensions.Select((d, i) => d >= 0 ? d.ToString() : SymbolicDimensions[i] is { Length: > 0 } s ? s : "?")) + "]";

    /// <summary>Reads the metadata from an OrtTypeInfo pointer (which the caller still owns).</summary>
    internal static NodeMetadata FromTypeInfo(nint typeInfo)
    {
        var onnxType = (OnnxValueType)OrtNative.GetInt(OrtNative.SlotGetOnnxTypeFromTypeInfo, typeInfo);
        if (onnxType != OnnxValueType.Tensor) return new NodeMetadata(onnxType, TensorElementType.Undefined, [], []);
        // The tensor info belongs to the type info: not released separately.
        var tensorInfo = OrtNative.GetHandleFromHandle(OrtNative.SlotCastTypeInfoToTensorInfo, typeInfo);
        var type = (TensorElementType)OrtNative.GetInt(OrtNative.SlotGetTensorElementType, tensorInfo);
        return new NodeMetadata(onnxType, type, OrtNative.GetDimensions(tensorInfo), OrtNative.GetSymbolicDimensions(tensorInfo));
    }
}
