using Onnx;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Graph;

/// <summary>One dimension of a shape: a number, a symbolic name (e.g. "batch"), or unknown (both null).</summary>
/// <param name="Value">The size, when the model gives a number.</param>
/// <param name="Param">The symbolic name, when the model gives one.</param>
internal readonly record struct Dim(long? Value, string? Param)
{
    /// <summary>The number, the symbolic name, or <c>?</c>.</summary>
    public override string ToString() => Value?.ToString() ?? Param ?? "?";
}

/// <summary>The element type and shape of a tensor value, as far as the model declares them.</summary>
/// <param name="ElementType">ONNX data type number (TensorProto.DataType); 0 when unknown.</param>
/// <param name="Shape">The dimensions, or null when the rank is unknown.</param>
internal sealed record TensorTypeInfo(int ElementType, IReadOnlyList<Dim>? Shape)
{
    /// <summary>The element type's ONNX name ("float", "float16", ...).</summary>
    public string ElementTypeName => DataTypes.Name(ElementType);

    /// <summary>The last dimension when it is a number: the hidden width of an activation.</summary>
    public long? LastDimension => Shape is { Count: > 0 } s ? s[^1].Value : null;

    /// <summary>E.g. <c>float[batch,seq,64]</c>; <c>?</c> for an unknown rank.</summary>
    public override string ToString() =>
        $"{ElementTypeName}[{(Shape is null ? "?" : string.Join(",", Shape))}]";

    /// <summary>The type a value_info declares, or null when it is not a tensor.</summary>
    public static TensorTypeInfo? From(ValueInfoProto valueInfo)
    {
        var t = valueInfo.Type?.TensorType;
        if (t is null) return null;
        IReadOnlyList<Dim>? shape = t.Shape is null
            ? null
            : t.Shape.Dim.Select(d => new Dim(
                d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : null,
                d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam ? d.DimParam : null)).ToList();
        return new TensorTypeInfo(t.ElemType, shape);
    }

    /// <summary>The type of an initializer: always fully known.</summary>
    public static TensorTypeInfo From(TensorProto tensor) =>
        new(tensor.DataType, tensor.Dims.Select(d => new Dim(d, null)).ToList());
}
