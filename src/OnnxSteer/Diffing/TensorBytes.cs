using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Onnx;

namespace OnnxSteer.Diffing;

/// <summary>Where an external tensor's bytes are: a file (already resolved inside the model's folder), an offset and a length.</summary>
internal sealed record ExternalRange(string File, long Offset, long Length);

/// <summary>
/// A tensor's stored values as one little-endian byte sequence, whatever field holds them (raw_data, the typed
/// repeated fields, or an external file), so two tensors can be compared chunk by chunk without loading files whole.
/// </summary>
internal sealed class TensorBytes
{
    private readonly byte[]? _inline;

    /// <summary>The external range, when the bytes live in a file.</summary>
    public ExternalRange? External { get; }

    /// <summary>Total byte length of the values.</summary>
    public long Length { get; }

    private TensorBytes(byte[]? inline, ExternalRange? external)
    {
        _inline = inline;
        External = external;
        Length = inline?.LongLength ?? external!.Length;
    }

    /// <summary>Opens the value bytes of <paramref name="tensor"/>; external locations are resolved against <paramref name="baseDirectory"/>.</summary>
    public static TensorBytes Of(TensorProto tensor, string baseDirectory, string modelPath)
    {
        if (tensor.DataLocation == TensorProto.Types.DataLocation.External)
            return new TensorBytes(null, ResolveExternal(tensor, baseDirectory, modelPath));
        if (tensor.HasRawData) return new TensorBytes(tensor.RawData.ToByteArray(), null);
        return new TensorBytes(TypedFieldsToBytes(tensor), null);
    }

    /// <summary>Opens a stream over the bytes; the caller reads exactly <see cref="Length"/> bytes.</summary>
    public Stream Open()
    {
        if (_inline is not null) return new MemoryStream(_inline, writable: false);
        var stream = new FileStream(External!.File, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        stream.Position = External.Offset;
        return stream;
    }

    /// <summary>All bytes in memory; for small tensors only (steering vectors).</summary>
    public byte[] ReadAll()
    {
        if (_inline is not null) return _inline;
        var bytes = new byte[checked((int)Length)];
        using var stream = Open();
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>Resolves location/offset/length of an external tensor, refusing locations outside the model's folder.</summary>
    public static ExternalRange ResolveExternal(TensorProto tensor, string baseDirectory, string modelPath)
    {
        string? location = null;
        long offset = 0, length = -1;
        foreach (var entry in tensor.ExternalData)
        {
            switch (entry.Key)
            {
                case "location": location = entry.Value; break;
                case "offset": offset = ParseLong(entry.Value, tensor, modelPath, "offset"); break;
                case "length": length = ParseLong(entry.Value, tensor, modelPath, "length"); break;
            }
        }
        if (string.IsNullOrEmpty(location))
            throw new InvalidModelException($"{modelPath}: initializer '{tensor.Name}' has external data without a location");
        if (Path.IsPathRooted(location))
            throw new InvalidModelException($"{modelPath}: initializer '{tensor.Name}' has an absolute external data location '{location}'");
        var root = Path.GetFullPath(baseDirectory);
        var file = Path.GetFullPath(Path.Combine(root, location));
        if (!file.StartsWith(root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new InvalidModelException($"{modelPath}: external data location '{location}' of '{tensor.Name}' is outside the model's folder");
        if (!File.Exists(file))
            throw new InvalidModelException($"{modelPath}: external data file '{location}' of '{tensor.Name}' does not exist");
        var fileLength = new FileInfo(file).Length;
        if (length < 0)
        {
            var expected = ExpectedByteLength(tensor);
            length = expected ?? fileLength - offset;
        }
        if (offset < 0 || length < 0 || offset + length > fileLength)
            throw new InvalidModelException(
                $"{modelPath}: external data of '{tensor.Name}' (offset {offset}, length {length}) runs past the end of '{location}' ({fileLength} bytes)");
        return new ExternalRange(file, offset, length);
    }

    /// <summary>Element count from the dims (1 for a scalar).</summary>
    public static long ElementCount(TensorProto tensor)
    {
        long n = 1;
        foreach (var d in tensor.Dims) n = checked(n * d);
        return n;
    }

    /// <summary>Bytes the values of <paramref name="tensor"/> take when packed, or null for strings and unknown types.</summary>
    public static long? ExpectedByteLength(TensorProto tensor)
    {
        var bits = ElementTypes.Bits(tensor.DataType);
        if (bits is null) return null;
        return (ElementCount(tensor) * bits.Value + 7) / 8;
    }

    private static long ParseLong(string text, TensorProto tensor, string modelPath, string what) =>
        long.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new InvalidModelException($"{modelPath}: initializer '{tensor.Name}' has external data {what} '{text}' that is not a number");

    /// <summary>Packs the typed repeated fields the way raw_data would hold them (ONNX: little-endian, fixed width).</summary>
    private static byte[] TypedFieldsToBytes(TensorProto t)
    {
        var type = (TensorProto.Types.DataType)t.DataType;
        switch (type)
        {
            case TensorProto.Types.DataType.Float:
            case TensorProto.Types.DataType.Complex64:
                return MemoryMarshal.AsBytes(t.FloatData.ToArray().AsSpan()).ToArray();
            case TensorProto.Types.DataType.Double:
            case TensorProto.Types.DataType.Complex128:
                return MemoryMarshal.AsBytes(t.DoubleData.ToArray().AsSpan()).ToArray();
            case TensorProto.Types.DataType.Int64:
                return MemoryMarshal.AsBytes(t.Int64Data.ToArray().AsSpan()).ToArray();
            case TensorProto.Types.DataType.Uint64:
                return MemoryMarshal.AsBytes(t.Uint64Data.ToArray().AsSpan()).ToArray();
            case TensorProto.Types.DataType.Uint32:
                return MemoryMarshal.AsBytes(t.Uint64Data.Select(v => (uint)v).ToArray().AsSpan()).ToArray();
            case TensorProto.Types.DataType.Int32:
                return MemoryMarshal.AsBytes(t.Int32Data.ToArray().AsSpan()).ToArray();
        }
        // The remaining fixed-width types keep one element per int32_data entry, in its low bits.
        var bits = ElementTypes.Bits(t.DataType);
        if (bits is 8 or 16)
        {
            var size = bits.Value / 8;
            var bytes = new byte[t.Int32Data.Count * size];
            for (var i = 0; i < t.Int32Data.Count; i++)
            {
                if (size == 1) bytes[i] = (byte)t.Int32Data[i];
                else BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), (ushort)t.Int32Data[i]);
            }
            return bytes;
        }
        if (bits is 4 or 2)
        {
            // Sub-byte types pack several elements into each int32_data entry's low byte.
            return t.Int32Data.Select(v => (byte)v).ToArray();
        }
        throw new InvalidModelException($"initializer '{t.Name}' has element type {ElementTypes.Name(t.DataType)}, whose typed-field values cannot be compared");
    }
}

/// <summary>Names, widths and numeric decoding of ONNX element types.</summary>
public static class ElementTypes
{
    /// <summary>Bits per element, or null for strings and unknown types.</summary>
    public static int? Bits(int dataType) => dataType switch
    {
        1 or 6 or 12 => 32,
        2 or 3 or 9 or 17 or 18 or 19 or 20 or 24 => 8,
        4 or 5 or 10 or 16 => 16,
        7 or 11 or 13 or 14 => 64,
        15 => 128,
        21 or 22 or 23 => 4,
        25 or 26 => 2,
        _ => null,
    };

    /// <summary>The lower-case ONNX name of an element type, e.g. float16.</summary>
    public static string Name(int dataType) => dataType switch
    {
        1 => "float", 2 => "uint8", 3 => "int8", 4 => "uint16", 5 => "int16", 6 => "int32", 7 => "int64",
        8 => "string", 9 => "bool", 10 => "float16", 11 => "double", 12 => "uint32", 13 => "uint64",
        14 => "complex64", 15 => "complex128", 16 => "bfloat16", 17 => "float8e4m3fn", 18 => "float8e4m3fnuz",
        19 => "float8e5m2", 20 => "float8e5m2fnuz", 21 => "uint4", 22 => "int4", 23 => "float4e2m1",
        24 => "float8e8m0", 25 => "uint2", 26 => "int2",
        _ => $"type{dataType}",
    };

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
        _ => throw new ArgumentOutOfRangeException(nameof(dataType), $"element type {Name(dataType)} has no numeric decoding"),
    };
}
