using System.Buffers.Binary;
using System.Text;
using OnnxSteer.IO;

namespace OnnxSteer.HostFormats;

/// <summary>An F32 tensor to write: its name, ggml dimensions (ne[0] first) and data in that order.</summary>
internal sealed record GgufF32Tensor(string Name, IReadOnlyList<ulong> Dimensions, float[] Data)
{
    /// <summary>A 1-D tensor of <paramref name="data"/>.Length elements.</summary>
    public static GgufF32Tensor Vector(string name, float[] data) => new(name, [(ulong)data.Length], data);
}

/// <summary>
/// Writes GGUF version 3, little-endian, with the layout <see cref="GgufReader"/> documents: header, metadata in the
/// given order, tensor infos, zero padding to the alignment, then each tensor's data at an offset that is a multiple of
/// the alignment (the gap after a tensor is zero padding). The alignment is <c>general.alignment</c> when the metadata
/// sets it (a uint32 power of two), else 32. Files are written atomically (temporary name, then rename).
/// </summary>
internal static class GgufWriter
{
    /// <summary>Writes a GGUF file to <paramref name="path"/>.</summary>
    public static void Write(string path, IReadOnlyList<KeyValuePair<string, GgufValue>> metadata, IReadOnlyList<GgufF32Tensor> tensors) =>
        AtomicFile.WriteAllBytes(path, ToBytes(metadata, tensors));

    /// <summary>The bytes of a GGUF file holding <paramref name="metadata"/> and <paramref name="tensors"/>.</summary>
    public static byte[] ToBytes(IReadOnlyList<KeyValuePair<string, GgufValue>> metadata, IReadOnlyList<GgufF32Tensor> tensors)
    {
        var alignment = GgufFile.DefaultAlignment;
        foreach (var kv in metadata)
            if (kv.Key == GgufFile.AlignmentKey)
            {
                if (kv.Value.Value is not uint a || a == 0 || (a & (a - 1)) != 0)
                    throw new ArgumentException($"{GgufFile.AlignmentKey} must be a uint32 power of two");
                alignment = a;
            }
        if (metadata.Select(kv => kv.Key).Distinct(StringComparer.Ordinal).Count() != metadata.Count)
            throw new ArgumentException("metadata keys must be unique");
        if (tensors.Select(t => t.Name).Distinct(StringComparer.Ordinal).Count() != tensors.Count)
            throw new ArgumentException("tensor names must be unique");

        using var body = new MemoryStream();
        var w = new LittleEndian(body);
        w.Bytes(GgufFile.Magic);
        w.UInt32(3);
        w.UInt64((ulong)tensors.Count);
        w.UInt64((ulong)metadata.Count);
        foreach (var (key, value) in metadata)
        {
            w.String(key);
            w.UInt32((uint)value.Type);
            WriteValue(w, value);
        }

        ulong offset = 0;
        var offsets = new List<ulong>();
        foreach (var t in tensors)
        {
            var count = t.Dimensions.Aggregate(1UL, (a, d) => checked(a * d));
            if (count != (ulong)t.Data.Length)
                throw new ArgumentException($"tensor '{t.Name}': dimensions give {count} elements, data has {t.Data.Length}");
            if (t.Dimensions.Count is 0 or > GgufReader.MaxDimensions) throw new ArgumentException($"tensor '{t.Name}': 1 to 4 dimensions");
            w.String(t.Name);
            w.UInt32((uint)t.Dimensions.Count);
            foreach (var d in t.Dimensions) w.UInt64(d);
            w.UInt32((uint)GgmlType.F32);
            w.UInt64(offset);
            offsets.Add(offset);
            offset += Align((ulong)t.Data.Length * 4, alignment);
        }
        w.Pad(alignment);
        var dataStart = body.Position;
        for (var i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            body.Position = dataStart + (long)offsets[i];
            foreach (var f in t.Data) w.Float32(f);
        }
        // The last tensor is padded too, as ggml's writer does, so every tensor's extent is a whole number of blocks.
        body.SetLength(dataStart + (long)offset);
        return body.ToArray();
    }

    /// <summary><paramref name="value"/> rounded up to a multiple of <paramref name="alignment"/> (the spec's align_offset).</summary>
    public static ulong Align(ulong value, ulong alignment) => value + (alignment - value % alignment) % alignment;

    private static void WriteValue(LittleEndian w, GgufValue value)
    {
        switch (value.Type, value.Value)
        {
            case (GgufValueType.UInt8, byte b): w.Bytes([b]); break;
            case (GgufValueType.Int8, sbyte sb): w.Bytes([(byte)sb]); break;
            case (GgufValueType.UInt16, ushort us): w.UInt16(us); break;
            case (GgufValueType.Int16, short s): w.UInt16((ushort)s); break;
            case (GgufValueType.UInt32, uint ui): w.UInt32(ui); break;
            case (GgufValueType.Int32, int i): w.UInt32((uint)i); break;
            case (GgufValueType.Float32, float f): w.Float32(f); break;
            case (GgufValueType.Bool, bool b): w.Bytes([b ? (byte)1 : (byte)0]); break;
            case (GgufValueType.String, string s): w.String(s); break;
            case (GgufValueType.UInt64, ulong ul): w.UInt64(ul); break;
            case (GgufValueType.Int64, long l): w.UInt64((ulong)l); break;
            case (GgufValueType.Float64, double d): w.Float64(d); break;
            case (GgufValueType.Array, GgufArray a):
                w.UInt32((uint)a.ElementType);
                w.UInt64((ulong)a.Items.Count);
                foreach (var item in a.Items)
                {
                    if (item.Type != a.ElementType) throw new ArgumentException($"array of {a.ElementType} holds a {item.Type}");
                    WriteValue(w, item);
                }
                break;
            default: throw new ArgumentException($"metadata value of type {value.Type} holds a {value.Value.GetType().Name}");
        }
    }

    private sealed class LittleEndian(Stream stream)
    {
        private readonly byte[] _buffer = new byte[8];

        public void Bytes(ReadOnlySpan<byte> bytes) => stream.Write(bytes);
        public void UInt16(ushort v) { BinaryPrimitives.WriteUInt16LittleEndian(_buffer, v); stream.Write(_buffer, 0, 2); }
        public void UInt32(uint v) { BinaryPrimitives.WriteUInt32LittleEndian(_buffer, v); stream.Write(_buffer, 0, 4); }
        public void UInt64(ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(_buffer, v); stream.Write(_buffer, 0, 8); }
        public void Float32(float v) { BinaryPrimitives.WriteSingleLittleEndian(_buffer, v); stream.Write(_buffer, 0, 4); }
        public void Float64(double v) { BinaryPrimitives.WriteDoubleLittleEndian(_buffer, v); stream.Write(_buffer, 0, 8); }

        public void String(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            UInt64((ulong)bytes.Length);
            stream.Write(bytes);
        }

        public void Pad(uint alignment)
        {
            var pad = (int)Align((ulong)stream.Position, alignment) - (int)stream.Position;
            for (var i = 0; i < pad; i++) stream.WriteByte(0);
        }
    }
}
