using System.Buffers.Binary;
using System.Text;

namespace OnnxSteer.HostFormats;

/// <summary>A GGUF file that cannot be read or used: one line naming the file and the problem (the CLI exits with 3).</summary>
public class InvalidGgufException(ErrorText message, Exception? inner = null) : InvalidInputException(message, inner);

/// <summary>
/// Reads GGUF files (versions 2 and 3, little-endian) as specified in ggml's docs/gguf.md:
/// <c>magic "GGUF", uint32 version, uint64 tensor_count, uint64 metadata_kv_count</c>, the key/value pairs
/// (<c>string key, uint32 type, value</c>; strings are <c>uint64 length + UTF-8 bytes</c>; arrays are
/// <c>uint32 element type, uint64 count, elements</c>), the tensor infos (<c>string name, uint32 n_dims,
/// uint64 dims[n_dims], uint32 ggml_type, uint64 offset</c>), zero padding to the alignment, then the tensor data;
/// each tensor's offset is relative to the start of that data and a multiple of the alignment
/// (<c>general.alignment</c>, default 32).
/// <para>The file is untrusted: every count and length is checked against the bytes left in the file before anything
/// is allocated from it, and every problem is an <see cref="InvalidGgufException"/> naming the file.</para>
/// </summary>
internal static class GgufReader
{
    /// <summary>At most this many tensors or metadata pairs (llama.cpp's largest models hold a few thousand).</summary>
    public const ulong MaxEntries = 1 << 20;

    /// <summary>Array nesting deeper than this is refused (the spec allows nesting; real files use one level).</summary>
    public const int MaxArrayDepth = 8;

    /// <summary>ggml tensors have at most 4 dimensions (GGML_MAX_DIMS).</summary>
    public const int MaxDimensions = 4;

    /// <summary>Reads the header, metadata and tensor infos of <paramref name="path"/>; tensor data is not read.</summary>
    public static GgufFile Read(string path)
    {
        if (!File.Exists(path)) throw new InvalidGgufException($"{path}: no such file");
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            return Parse(new Cursor(stream, path));
        }
        catch (IOException e) { throw new InvalidGgufException($"{path}: cannot read ({e.Message})", e); }
        catch (UnauthorizedAccessException e) { throw new InvalidGgufException($"{path}: cannot read ({e.Message})", e); }
    }

    /// <summary>
    /// The data of an F32 tensor, in file order (ne[0] fastest). Any other element type is refused with a message naming
    /// the file, the tensor and its type.
    /// </summary>
    public static float[] ReadF32(GgufFile file, GgufTensorInfo tensor)
    {
        if (tensor.Type != GgmlType.F32)
            throw new InvalidGgufException($"{file.Path}: tensor '{tensor.Name}' is {tensor.TypeName}; only F32 tensors can be read (convert it to F32 first)");
        var count = tensor.ElementCount;
        if (count > int.MaxValue / 4) throw new InvalidGgufException($"{file.Path}: tensor '{tensor.Name}' has {count} elements, too many to read");
        var start = DataPosition(file, tensor, count * 4);
        var values = new float[(int)count];
        try
        {
            using var stream = new FileStream(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (stream.Length != file.Length) throw new InvalidGgufException($"{file.Path}: the file changed while it was read");
            stream.Position = start;
            var bytes = new byte[values.Length * 4];
            stream.ReadExactly(bytes);
            for (var i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4, 4));
        }
        catch (EndOfStreamException e) { throw new InvalidGgufException($"{file.Path}: tensor '{tensor.Name}' ends beyond the end of the file", e); }
        catch (IOException e) when (e is not EndOfStreamException) { throw new InvalidGgufException($"{file.Path}: cannot read tensor '{tensor.Name}' ({e.Message})", e); }
        return values;
    }

    /// <summary>The absolute file position of <paramref name="tensor"/>'s data, checked to lie within the file.</summary>
    private static long DataPosition(GgufFile file, GgufTensorInfo tensor, ulong byteCount)
    {
        var available = (ulong)(file.Length - file.DataStart);
        if (tensor.Offset > available || byteCount > available - tensor.Offset || byteCount > int.MaxValue)
            throw new InvalidGgufException(
                $"{file.Path}: tensor '{tensor.Name}' ({byteCount} bytes at data offset {tensor.Offset}) lies beyond the end of the file " +
                $"({available} bytes of tensor data)");
        return file.DataStart + (long)tensor.Offset;
    }

    private static GgufFile Parse(Cursor c)
    {
        var path = c.Path;
        if (c.Remaining < 4 || !c.ReadBytes(4).AsSpan().SequenceEqual(GgufFile.Magic))
            throw new InvalidGgufException($"{path}: not a GGUF file (it does not start with the bytes 'GGUF')");
        var version = c.ReadUInt32("version");
        if (version is 1)
            throw new InvalidGgufException($"{path}: GGUF version 1 is not supported (versions 2 and 3 are); re-save the file with a current gguf writer");
        if (version is not (2 or 3))
        {
            // A big-endian file stores 3 as 00 00 00 03, read here as 0x03000000.
            var hint = BinaryPrimitives.ReverseEndianness(version) is 2 or 3 ? " (it looks big-endian; only little-endian files are supported)" : "";
            throw new InvalidGgufException($"{path}: unsupported GGUF version {version}{hint}");
        }
        var tensorCount = c.ReadUInt64("tensor count");
        var kvCount = c.ReadUInt64("metadata count");
        // Every tensor info takes at least 8+1+4+8+4+8 bytes, every pair at least 8+1+4+1: a count larger than the file
        // could hold is a corrupt header, refused before anything is allocated from it.
        CheckCount(c, tensorCount, 33, "tensor count");
        CheckCount(c, kvCount, 14, "metadata count");

        var metadata = new List<KeyValuePair<string, GgufValue>>((int)kvCount);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < kvCount; i++)
        {
            var key = c.ReadString($"metadata key {i}", maxLength: ushort.MaxValue);
            if (!keys.Add(key)) throw new InvalidGgufException($"{path}: metadata key '{key}' appears twice");
            var type = ReadType(c, $"metadata '{key}'");
            metadata.Add(new(key, ReadValue(c, type, key, 0)));
        }

        var alignment = GgufFile.DefaultAlignment;
        var alignmentValue = metadata.FirstOrDefault(kv => kv.Key == GgufFile.AlignmentKey).Value;
        if (alignmentValue is not null)
        {
            if (alignmentValue.Value is not uint a || a == 0 || (a & (a - 1)) != 0)
                throw new InvalidGgufException($"{path}: {GgufFile.AlignmentKey} must be a uint32 power of two, found {alignmentValue.Type} {alignmentValue}");
            alignment = a;
        }

        var tensors = new List<GgufTensorInfo>((int)tensorCount);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < tensorCount; i++)
        {
            var name = c.ReadString($"tensor {i} name", maxLength: ushort.MaxValue);
            if (!names.Add(name)) throw new InvalidGgufException($"{path}: tensor '{name}' appears twice");
            var nDims = c.ReadUInt32($"tensor '{name}' dimension count");
            if (nDims is 0 or > MaxDimensions)
                throw new InvalidGgufException($"{path}: tensor '{name}' has {nDims} dimensions; 1 to {MaxDimensions} are allowed");
            var dims = new ulong[nDims];
            ulong elements = 1;
            for (var d = 0; d < nDims; d++)
            {
                dims[d] = c.ReadUInt64($"tensor '{name}' dimension {d}");
                if (dims[d] == 0 || dims[d] > long.MaxValue)
                    throw new InvalidGgufException($"{path}: tensor '{name}' dimension {d} is {dims[d]}");
                if (elements > ulong.MaxValue / dims[d])
                    throw new InvalidGgufException($"{path}: tensor '{name}' has more elements than can be counted");
                elements *= dims[d];
            }
            var type = (GgmlType)c.ReadUInt32($"tensor '{name}' type");
            var offset = c.ReadUInt64($"tensor '{name}' offset");
            if (offset % alignment != 0)
                throw new InvalidGgufException($"{path}: tensor '{name}' offset {offset} is not a multiple of the alignment {alignment}");
            tensors.Add(new GgufTensorInfo(name, dims, type, offset));
        }

        var end = c.Position;
        var dataStart = end + (long)((alignment - (ulong)end % alignment) % alignment);
        if (tensorCount > 0 && dataStart > c.Length)
            throw new InvalidGgufException($"{path}: the file ends before its tensor data (truncated)");
        var file = new GgufFile
        {
            Path = path, Version = version, Metadata = metadata, Tensors = tensors, Alignment = alignment,
            DataStart = dataStart, Length = c.Length,
        };
        // Tensors whose size is known are checked to lie within the file now, so a truncated file fails on opening.
        foreach (var t in tensors)
            if (ElementSize(t.Type) is { } size)
            {
                if (t.ElementCount > ulong.MaxValue / size) throw new InvalidGgufException($"{path}: tensor '{t.Name}' is too large");
                DataPosition(file, t, t.ElementCount * size);
            }
        return file;
    }

    /// <summary>Bytes per element of the unquantized types; null for block-quantized ones.</summary>
    internal static ulong? ElementSize(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.I32 => 4,
        GgmlType.F16 or GgmlType.BF16 or GgmlType.I16 => 2,
        GgmlType.I8 => 1,
        GgmlType.F64 or GgmlType.I64 => 8,
        _ => null,
    };

    private static void CheckCount(Cursor c, ulong count, int minBytesEach, string what)
    {
        if (count > MaxEntries || count > (ulong)c.Remaining / (ulong)minBytesEach)
            throw new InvalidGgufException($"{c.Path}: {what} {count} is impossible for a file of {c.Length} bytes (corrupt or truncated header)");
    }

    private static GgufValueType ReadType(Cursor c, string what)
    {
        var raw = c.ReadUInt32(what + " type");
        if (raw > (uint)GgufValueType.Float64) throw new InvalidGgufException($"{c.Path}: {what} has unknown value type {raw}");
        return (GgufValueType)raw;
    }

    private static GgufValue ReadValue(Cursor c, GgufValueType type, string key, int depth)
    {
        object value = type switch
        {
            GgufValueType.UInt8 => c.ReadBytes(1)[0],
            GgufValueType.Int8 => (sbyte)c.ReadBytes(1)[0],
            GgufValueType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(c.ReadBytes(2)),
            GgufValueType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(c.ReadBytes(2)),
            GgufValueType.UInt32 => c.ReadUInt32(key),
            GgufValueType.Int32 => (int)c.ReadUInt32(key),
            GgufValueType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(c.ReadBytes(4)),
            GgufValueType.Bool => c.ReadBytes(1)[0] switch
            {
                0 => false,
                1 => true,
                var b => throw new InvalidGgufException($"{c.Path}: metadata '{key}' is a bool with byte value {b} (must be 0 or 1)"),
            },
            GgufValueType.String => c.ReadString($"metadata '{key}'", maxLength: int.MaxValue),
            GgufValueType.Array => ReadArray(c, key, depth),
            GgufValueType.UInt64 => c.ReadUInt64(key),
            GgufValueType.Int64 => (long)c.ReadUInt64(key),
            GgufValueType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(c.ReadBytes(8)),
            _ => throw new InvalidGgufException($"{c.Path}: metadata '{key}' has unknown value type {(uint)type}"),
        };
        return new GgufValue(type, value);
    }

    private static GgufArray ReadArray(Cursor c, string key, int depth)
    {
        if (depth >= MaxArrayDepth) throw new InvalidGgufException($"{c.Path}: metadata '{key}' nests arrays deeper than {MaxArrayDepth}");
        var elementType = ReadType(c, $"metadata '{key}' array element");
        var count = c.ReadUInt64($"metadata '{key}' array length");
        var minSize = elementType switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.Array => 12,
            _ => 8,
        };
        if (count > (ulong)c.Remaining / (ulong)minSize)
            throw new InvalidGgufException($"{c.Path}: metadata '{key}' claims {count} array elements, more than the {c.Remaining} bytes left can hold (corrupt or truncated)");
        if (count > int.MaxValue) throw new InvalidGgufException($"{c.Path}: metadata '{key}' claims {count} array elements (at most {int.MaxValue} allowed)");
        // Grown as elements are actually read, so a count near the file size costs nothing until the bytes are there.
        var items = new List<GgufValue>((int)Math.Min(count, 1 << 16));
        for (ulong i = 0; i < count; i++) items.Add(ReadValue(c, elementType, key, depth + 1));
        return new GgufArray(elementType, items);
    }

    /// <summary>Sequential little-endian reads that never run past the end of the file.</summary>
    private sealed class Cursor(Stream stream, string path)
    {
        public string Path { get; } = path;
        public long Length { get; } = stream.Length;
        public long Position { get; private set; }
        public long Remaining => Length - Position;

        public byte[] ReadBytes(int count, string what = "value")
        {
            if (count > Remaining) throw new InvalidGgufException($"{Path}: the file ends inside {what} at byte {Position} (truncated)");
            var bytes = new byte[count];
            stream.ReadExactly(bytes);
            Position += count;
            return bytes;
        }

        public uint ReadUInt32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4, what));
        public ulong ReadUInt64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8, what));

        public string ReadString(string what, int maxLength)
        {
            var length = ReadUInt64(what + " length");
            if (length > (ulong)Remaining)
                throw new InvalidGgufException($"{Path}: {what} claims {length} bytes, but only {Remaining} are left (corrupt or truncated)");
            if (length > (ulong)maxLength) throw new InvalidGgufException($"{Path}: {what} is {length} bytes long (at most {maxLength} allowed)");
            try
            {
                return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(ReadBytes((int)length, what));
            }
            catch (DecoderFallbackException e) { throw new InvalidGgufException($"{Path}: {what} is not valid UTF-8", e); }
        }
    }
}
