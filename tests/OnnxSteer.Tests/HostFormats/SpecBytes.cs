using System.Buffers.Binary;
using System.Text;

namespace OnnxSteer.Tests.HostFormats;

/// <summary>
/// Assembles GGUF bytes field by field, straight from ggml's docs/gguf.md, with no code shared with the library's
/// writer: the independent side of the layout tests. Little-endian throughout.
/// </summary>
internal sealed class SpecBytes
{
    private readonly List<byte> _bytes = [];

    public int Length => _bytes.Count;

    public SpecBytes Raw(params byte[] bytes) { _bytes.AddRange(bytes); return this; }
    public SpecBytes U8(byte v) => Raw(v);
    public SpecBytes U32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return Raw(b); }
    public SpecBytes I32(int v) { var b = new byte[4]; BinaryPrimitives.WriteInt32LittleEndian(b, v); return Raw(b); }
    public SpecBytes U64(ulong v) { var b = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return Raw(b); }
    public SpecBytes F32(float v) { var b = new byte[4]; BinaryPrimitives.WriteSingleLittleEndian(b, v); return Raw(b); }

    /// <summary>gguf_string_t: uint64 length, then the UTF-8 bytes, no terminator.</summary>
    public SpecBytes Str(string s) { var b = Encoding.UTF8.GetBytes(s); return U64((ulong)b.Length).Raw(b); }

    /// <summary>Header: magic "GGUF" (0x47 0x47 0x55 0x46), uint32 version, uint64 tensor_count, uint64 metadata_kv_count.</summary>
    public SpecBytes Header(uint version, ulong tensors, ulong kvs) => Raw(0x47, 0x47, 0x55, 0x46).U32(version).U64(tensors).U64(kvs);

    /// <summary>A string metadata pair: key, type 8 (STRING), value.</summary>
    public SpecBytes KvString(string key, string value) => Str(key).U32(8).Str(value);

    /// <summary>A uint32 metadata pair: key, type 4 (UINT32), value.</summary>
    public SpecBytes KvU32(string key, uint value) => Str(key).U32(4).U32(value);

    /// <summary>An int32 metadata pair: key, type 5 (INT32), value (llama.cpp's cvector-generator writes layer_count so).</summary>
    public SpecBytes KvI32(string key, int value) => Str(key).U32(5).I32(value);

    /// <summary>Tensor info: name, uint32 n_dims, uint64 dims, uint32 ggml_type (0 = F32), uint64 offset into the data section.</summary>
    public SpecBytes TensorInfo(string name, ulong[] dims, uint type, ulong offset)
    {
        Str(name).U32((uint)dims.Length);
        foreach (var d in dims) U64(d);
        return U32(type).U64(offset);
    }

    /// <summary>Zero bytes up to the next multiple of <paramref name="alignment"/> (align_offset in the spec).</summary>
    public SpecBytes PadTo(int alignment)
    {
        while (_bytes.Count % alignment != 0) _bytes.Add(0);
        return this;
    }

    public byte[] ToArray() => _bytes.ToArray();
}
