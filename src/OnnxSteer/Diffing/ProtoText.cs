using System.Globalization;
using Onnx;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Diffing;

/// <summary>Short, stable one-line texts for protobuf values shown in diff reports.</summary>
internal static class ProtoText
{
    private const int MaxListItems = 8;

    /// <summary>A value's type, e.g. <c>float16[batch,seq,32000]</c>.</summary>
    public static string Type(TypeProto? type) => type?.ValueCase switch
    {
        null or TypeProto.ValueOneofCase.None => "(no type)",
        TypeProto.ValueOneofCase.TensorType => DataTypes.Name(type.TensorType.ElemType) + Shape(type.TensorType.Shape),
        TypeProto.ValueOneofCase.SparseTensorType => "sparse " + DataTypes.Name(type.SparseTensorType.ElemType) + Shape(type.SparseTensorType.Shape),
        TypeProto.ValueOneofCase.SequenceType => $"seq({Type(type.SequenceType.ElemType)})",
        TypeProto.ValueOneofCase.OptionalType => $"optional({Type(type.OptionalType.ElemType)})",
        TypeProto.ValueOneofCase.MapType => $"map({DataTypes.Name(type.MapType.KeyType)},{Type(type.MapType.ValueType)})",
        _ => type.ValueCase.ToString(),
    };

    private static string Shape(TensorShapeProto? shape) => shape is null
        ? "[?]"
        : "[" + string.Join(",", shape.Dim.Select(d => d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => d.DimValue.ToString(CultureInfo.InvariantCulture),
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam => d.DimParam,
            _ => "?",
        })) + "]";

    /// <summary>A tensor's type and shape, e.g. <c>float[64,172]</c>.</summary>
    public static string TensorType(TensorProto t) =>
        DataTypes.Name(t.DataType) + "[" + string.Join(",", t.Dims.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";

    /// <summary>An attribute's value.</summary>
    public static string Attribute(AttributeProto a)
    {
        if (a.HasRefAttrName) return "@" + a.RefAttrName;
        return a.Type switch
        {
            AttributeProto.Types.AttributeType.Float => Number(a.F),
            AttributeProto.Types.AttributeType.Int => a.I.ToString(CultureInfo.InvariantCulture),
            AttributeProto.Types.AttributeType.String => Quote(a.S.ToStringUtf8()),
            AttributeProto.Types.AttributeType.Tensor => "tensor " + TensorType(a.T),
            AttributeProto.Types.AttributeType.Graph => $"graph '{a.G.Name}' ({a.G.Node.Count} nodes)",
            AttributeProto.Types.AttributeType.Floats => List(a.Floats.Select(Number)),
            AttributeProto.Types.AttributeType.Ints => List(a.Ints.Select(i => i.ToString(CultureInfo.InvariantCulture))),
            AttributeProto.Types.AttributeType.Strings => List(a.Strings.Select(s => Quote(s.ToStringUtf8()))),
            AttributeProto.Types.AttributeType.Tensors => $"{a.Tensors.Count} tensors",
            AttributeProto.Types.AttributeType.Graphs => $"{a.Graphs.Count} graphs",
            AttributeProto.Types.AttributeType.TypeProto => "type " + Type(a.Tp),
            _ => a.Type.ToString(),
        };
    }

    /// <summary>Invariant shortest round-trip text for a number.</summary>
    public static string Number(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    public static string Number(float v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A string cut to <paramref name="max"/> characters, newlines shown as \n.</summary>
    public static string Clip(string s, int max = 80)
    {
        s = s.Replace("\n", "\\n");
        return s.Length <= max ? s : s[..(max - 1)] + "…";
    }

    private static string Quote(string s) => "\"" + Clip(s, 60) + "\"";

    private static string List(IEnumerable<string> items)
    {
        var all = items.ToList();
        var shown = all.Take(MaxListItems).ToList();
        if (all.Count > MaxListItems) shown.Add($"… ({all.Count} items)");
        return "[" + string.Join(",", shown) + "]";
    }
}
