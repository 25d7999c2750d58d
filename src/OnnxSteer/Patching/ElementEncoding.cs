using System.Buffers.Binary;
using Onnx;

namespace OnnxSteer.Patching;

/// <summary>
/// Converts between float32 and the float element types a steered site can have (float32, float16, bfloat16),
/// little-endian as ONNX raw_data stores them.
/// </summary>
internal static class ElementEncoding
{
    /// <summary>True for the element types steering supports.</summary>
    public static bool IsSupported(int elementType) => elementType is
        (int)TensorProto.Types.DataType.Float or (int)TensorProto.Types.DataType.Float16 or (int)TensorProto.Types.DataType.Bfloat16;

    /// <summary>Bytes per element of a supported type.</summary>
    public static int Size(int elementType) => elementType switch
    {
        (int)TensorProto.Types.DataType.Float => 4,
        (int)TensorProto.Types.DataType.Float16 or (int)TensorProto.Types.DataType.Bfloat16 => 2,
        _ => throw new NotSupportedException($"element type {Name(elementType)} is not a steerable float type"),
    };

    /// <summary>The ONNX name of an element type, e.g. float16.</summary>
    public static string Name(int elementType) => elementType switch
    {
        (int)TensorProto.Types.DataType.Float => "float32",
        (int)TensorProto.Types.DataType.Float16 => "float16",
        (int)TensorProto.Types.DataType.Bfloat16 => "bfloat16",
        (int)TensorProto.Types.DataType.Double => "float64",
        _ => ((TensorProto.Types.DataType)elementType).ToString().ToLowerInvariant(),
    };

    /// <summary>True when <paramref name="value"/> rounds to a finite number of the element type.</summary>
    public static bool IsRepresentable(double value, int elementType) =>
        double.IsFinite(value) && float.IsFinite(RoundTrip((float)value, elementType));

    /// <summary><paramref name="value"/> rounded to the element type and back to float32.</summary>
    public static float RoundTrip(float value, int elementType) => elementType switch
    {
        (int)TensorProto.Types.DataType.Float => value,
        (int)TensorProto.Types.DataType.Float16 => (float)(Half)value,
        (int)TensorProto.Types.DataType.Bfloat16 => BFloat16ToSingle(SingleToBFloat16(value)),
        _ => throw new NotSupportedException($"element type {Name(elementType)} is not a steerable float type"),
    };

    /// <summary>Encodes float32 values as the element type (round to nearest even).</summary>
    public static byte[] Encode(ReadOnlySpan<float> values, int elementType)
    {
        var size = Size(elementType);
        var bytes = new byte[values.Length * size];
        for (var i = 0; i < values.Length; i++) Write(bytes.AsSpan(i * size, size), values[i], elementType);
        return bytes;
    }

    /// <summary>Decodes raw little-endian bytes of the element type to float32 (exact: every value is representable).</summary>
    public static float[] Decode(ReadOnlySpan<byte> bytes, int elementType)
    {
        var size = Size(elementType);
        if (bytes.Length % size != 0) throw new ArgumentException($"{bytes.Length} bytes is not a whole number of {Name(elementType)} values");
        var values = new float[bytes.Length / size];
        for (var i = 0; i < values.Length; i++) values[i] = Read(bytes.Slice(i * size, size), elementType);
        return values;
    }

    /// <summary>Reads one value.</summary>
    public static float Read(ReadOnlySpan<byte> bytes, int elementType) => elementType switch
    {
        (int)TensorProto.Types.DataType.Float => BinaryPrimitives.ReadSingleLittleEndian(bytes),
        (int)TensorProto.Types.DataType.Float16 => (float)BinaryPrimitives.ReadHalfLittleEndian(bytes),
        (int)TensorProto.Types.DataType.Bfloat16 => BFloat16ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes)),
        _ => throw new NotSupportedException($"element type {Name(elementType)} is not a steerable float type"),
    };

    /// <summary>Writes one value, rounded to the element type.</summary>
    public static void Write(Span<byte> bytes, float value, int elementType)
    {
        switch (elementType)
        {
            case (int)TensorProto.Types.DataType.Float: BinaryPrimitives.WriteSingleLittleEndian(bytes, value); break;
            case (int)TensorProto.Types.DataType.Float16: BinaryPrimitives.WriteHalfLittleEndian(bytes, (Half)value); break;
            case (int)TensorProto.Types.DataType.Bfloat16: BinaryPrimitives.WriteUInt16LittleEndian(bytes, SingleToBFloat16(value)); break;
            default: throw new NotSupportedException($"element type {Name(elementType)} is not a steerable float type");
        }
    }

    /// <summary>float32 → bfloat16 bits, round to nearest even (NaN stays NaN).</summary>
    public static ushort SingleToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x0040);
        var rounding = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>bfloat16 bits → float32 (exact).</summary>
    public static float BFloat16ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
