using System.Buffers.Binary;
using Onnx;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Diffing;

/// <summary>
/// A tensor's stored values as one little-endian byte sequence, whatever field holds them (raw_data, the typed
/// repeated fields, or an external file checked by <see cref="ExternalDataGuard"/>), so two tensors can be compared
/// chunk by chunk without loading files whole.
/// </summary>
internal sealed class TensorBytes
{
    private readonly byte[]? _inline;

    /// <summary>The checked external range (real file path), when the bytes live in a file.</summary>
    public ExternalDataSpan? External { get; }

    /// <summary>Total byte length of the values.</summary>
    public long Length { get; }

    private TensorBytes(byte[]? inline, ExternalDataSpan? external)
    {
        _inline = inline;
        External = external;
        Length = inline?.LongLength ?? external!.Length;
    }

    /// <summary>Locates the value bytes of <paramref name="tensor"/>; external locations are resolved against <paramref name="baseDirectory"/>.</summary>
    public static TensorBytes Of(TensorProto tensor, string baseDirectory, string modelPath) =>
        ExternalDataReference.IsExternal(tensor)
            ? new TensorBytes(null, ExternalDataSpan.Locate(tensor, baseDirectory, modelPath))
            : new TensorBytes(TensorData.InlineBytes(tensor, modelPath), null);

    /// <summary>Opens a stream over exactly <see cref="Length"/> bytes.</summary>
    public Stream Open() => _inline is not null
        ? new MemoryStream(_inline, writable: false)
        : new BoundedReadStream(External!.FilePath, External.Offset, External.Length);

    /// <summary>All bytes in memory; for small tensors only (steering vectors).</summary>
    public byte[] ReadAll()
    {
        if (_inline is not null) return _inline;
        var bytes = new byte[checked((int)Length)];
        using var stream = Open();
        stream.ReadExactly(bytes);
        return bytes;
    }
}

/// <summary>Numeric decoding and precision of ONNX element types (widths and names: <see cref="DataTypes"/>).</summary>
internal static class ElementTypes
{
    /// <summary>True when <see cref="Decode"/> gives a value for this type.</summary>
    public static bool IsNumeric(int dataType) => dataType is 1 or 2 or 3 or 4 or 5 or 6 or 7 or 9 or 10 or 11 or 12 or 13 or 16;

    /// <summary>Relative precision of a floating type (unit roundoff), or 0 for integers.</summary>
    public static double Epsilon(int dataType) => dataType switch
    {
        1 => Math.Pow(2, -24),
        10 => Math.Pow(2, -11),
        16 => Math.Pow(2, -8),
        11 => Math.Pow(2, -53),
        _ => 0,
    };

    /// <summary>Smallest positive value of a floating type (the spacing of its subnormals), or 0 for integers.</summary>
    public static double Spacing(int dataType) => dataType switch
    {
        1 => float.Epsilon,
        10 => Math.Pow(2, -24),
        16 => Math.Pow(2, -133),
        11 => double.Epsilon,
        _ => 0,
    };

    /// <summary>Decodes element <paramref name="index"/> of little-endian <paramref name="bytes"/> as a double.</summary>
    public static double Decode(int dataType, ReadOnlySpan<byte> bytes, int index) => dataType switch
    {
        1 => BinaryPrimitives.ReadSingleLittleEndian(bytes[(index * 4)..]),
        2 => bytes[index],
        3 => (sbyte)bytes[index],
        4 => BinaryPrimitives.ReadUInt16LittleEndian(bytes[(index * 2)..]),
        5 => BinaryPrimitives.ReadInt16LittleEndian(bytes[(index * 2)..]),
        6 => BinaryPrimitives.ReadInt32LittleEndian(bytes[(index * 4)..]),
        7 => BinaryPrimitives.ReadInt64LittleEndian(bytes[(index * 8)..]),
        9 => bytes[index] != 0 ? 1 : 0,
        10 => (double)BinaryPrimitives.ReadHalfLittleEndian(bytes[(index * 2)..]),
        11 => BinaryPrimitives.ReadDoubleLittleEndian(bytes[(index * 8)..]),
        12 => BinaryPrimitives.ReadUInt32LittleEndian(bytes[(index * 4)..]),
        13 => BinaryPrimitives.ReadUInt64LittleEndian(bytes[(index * 8)..]),
        16 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(index * 2)..]) << 16),
        _ => throw new ArgumentOutOfRangeException(nameof(dataType), $"element type {DataTypes.Name(dataType)} has no numeric decoding"),
    };
}
