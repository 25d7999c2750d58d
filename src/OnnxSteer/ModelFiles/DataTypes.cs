using Onnx;

namespace OnnxSteer.ModelFiles;

/// <summary>Facts about ONNX tensor element types: storage width, name, and which typed field holds them.</summary>
internal static class DataTypes
{
    /// <summary>Bits one element occupies in <c>raw_data</c> or an external file; 0 for STRING and unknown types.</summary>
    public static int BitsPerElement(int dataType) => (TensorProto.Types.DataType)dataType switch
    {
        TensorProto.Types.DataType.Float => 32,
        TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Bool => 8,
        TensorProto.Types.DataType.Uint16 or TensorProto.Types.DataType.Int16 => 16,
        TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Uint32 => 32,
        TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Uint64 or TensorProto.Types.DataType.Double => 64,
        TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16 => 16,
        TensorProto.Types.DataType.Complex64 => 64,
        TensorProto.Types.DataType.Complex128 => 128,
        TensorProto.Types.DataType.Float8E4M3Fn or TensorProto.Types.DataType.Float8E4M3Fnuz
            or TensorProto.Types.DataType.Float8E5M2 or TensorProto.Types.DataType.Float8E5M2Fnuz
            or TensorProto.Types.DataType.Float8E8M0 => 8,
        TensorProto.Types.DataType.Uint4 or TensorProto.Types.DataType.Int4 or TensorProto.Types.DataType.Float4E2M1 => 4,
        TensorProto.Types.DataType.Uint2 or TensorProto.Types.DataType.Int2 => 2,
        _ => 0,
    };

    /// <summary>Lower-case ONNX name of a data type ("float", "float16", "int4", ...), or "type N" when unknown.</summary>
    public static string Name(int dataType) =>
        Enum.IsDefined(typeof(TensorProto.Types.DataType), dataType)
            ? ((TensorProto.Types.DataType)dataType).ToString().ToLowerInvariant()
            : $"type {dataType}";

    /// <summary>Number of elements of a tensor with these dims (1 for a scalar).</summary>
    public static long ElementCount(IEnumerable<long> dims)
    {
        long count = 1;
        foreach (var d in dims) count = checked(count * d);
        return count;
    }

    /// <summary>Bytes that <paramref name="elements"/> elements of <paramref name="dataType"/> take when packed
    /// (sub-byte types round up to a whole byte), or -1 for STRING and unknown types.</summary>
    public static long ByteSize(int dataType, long elements)
    {
        var bits = BitsPerElement(dataType);
        return bits == 0 ? -1 : checked(elements * bits + 7) / 8;
    }
}
