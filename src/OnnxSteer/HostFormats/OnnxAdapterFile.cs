using System.Buffers.Binary;
using System.Text;
using OnnxSteer.IO;

namespace OnnxSteer.HostFormats;

/// <summary>
/// One parameter of an ONNX Runtime adapter: a tensor that replaces the initializer (or feeds the input) of the same name
/// for the runs the adapter is active in.
/// </summary>
/// <param name="Name">The initializer or input it replaces.</param>
/// <param name="Dimensions">Its shape; ONNX Runtime refuses a parameter without dimensions, so a scalar is [1].</param>
/// <param name="DataType">The ONNX element type (TensorProto.DataType: 1 float, 10 float16, 16 bfloat16, …).</param>
/// <param name="RawData">The elements, little-endian, in row-major order.</param>
internal sealed record OnnxAdapterParameter(string Name, IReadOnlyList<long> Dimensions, int DataType, byte[] RawData);

/// <summary>
/// Writes ONNX Runtime's adapter format (.onnx_adapter; the FlatBuffers schema onnxruntime/lora/adapter_format/
/// adapter_schema.fbs, format version 1, file identifier "TORT"). onnxruntime-genai loads such a file with
/// <c>Adapters.LoadAdapter</c> and activates it per generator with <c>Generator.SetActiveAdapter</c>; plain ONNX Runtime
/// with <c>OrtLoraAdapter.Create</c> and <c>RunOptions.AddActiveLoraAdapter</c>. Either way each parameter is fed to the
/// session by name, so it can override an initializer that the model also lists as an input.
/// </summary>
/// <remarks>
/// The buffer is laid out front to back (the FlatBuffers builders write back to front; readers only need every offset to
/// resolve and every scalar to be aligned): root offset and identifier, the Adapter table with its vtable, the vector of
/// Parameter offsets, then each Parameter's vtable, table, name, dims and raw data. Offsets to strings, vectors and tables
/// always point forward, as the format's unsigned offsets require; tensor data starts on an 8-byte boundary (the
/// schema's force_align: 8).
/// </remarks>
internal static class OnnxAdapterFile
{
    /// <summary>The adapter format version written (the only one ONNX Runtime 1.2x–1.3x reads).</summary>
    public const int FormatVersion = 1;

    /// <summary>The FlatBuffers file identifier of the format.</summary>
    public static ReadOnlySpan<byte> Identifier => "TORT"u8;

    /// <summary>Writes the adapter to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, IReadOnlyList<OnnxAdapterParameter> parameters) =>
        AtomicFile.WriteAllBytes(path, ToBytes(parameters));

    /// <summary>The bytes of an adapter holding <paramref name="parameters"/>.</summary>
    /// <exception cref="ArgumentException">No parameters, a duplicate or empty name, a parameter without dimensions, or
    /// data whose length is not a whole number of elements of its shape.</exception>
    public static byte[] ToBytes(IReadOnlyList<OnnxAdapterParameter> parameters)
    {
        if (parameters.Count == 0) throw new ArgumentException("an adapter needs at least one parameter");
        if (parameters.Select(p => p.Name).Distinct(StringComparer.Ordinal).Count() != parameters.Count)
            throw new ArgumentException("adapter parameter names must be unique");
        foreach (var p in parameters) Check(p);

        var w = new ForwardBuffer();
        var root = w.Offset();
        w.Bytes(Identifier);
        var adapterTable = w.Table([4, 4, 4, 4]); // format_version, adapter_version, model_version, parameters
        w.Patch(root, adapterTable.Start);
        w.SetInt32(adapterTable.Fields[0], FormatVersion);
        w.SetInt32(adapterTable.Fields[1], 0);
        w.SetInt32(adapterTable.Fields[2], 0);

        w.Align(4);
        w.Patch(adapterTable.Fields[3], w.Position);
        w.UInt32((uint)parameters.Count);
        var slots = parameters.Select(_ => w.Offset()).ToArray();
        for (var i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            var table = w.Table([4, 4, 4, 4]); // name, dims, data_type, raw_data
            w.Patch(slots[i], table.Start);
            w.SetInt32(table.Fields[2], p.DataType);

            w.Align(4);
            w.Patch(table.Fields[0], w.Position);
            var name = Encoding.UTF8.GetBytes(p.Name);
            w.UInt32((uint)name.Length);
            w.Bytes(name);
            w.Bytes([0]);

            w.AlignVector(8);
            w.Patch(table.Fields[1], w.Position);
            w.UInt32((uint)p.Dimensions.Count);
            foreach (var d in p.Dimensions) w.Int64(d);

            w.AlignVector(8);
            w.Patch(table.Fields[3], w.Position);
            w.UInt32((uint)p.RawData.Length);
            w.Bytes(p.RawData);
        }
        w.Align(8);
        return w.ToArray();
    }

    private static void Check(OnnxAdapterParameter p)
    {
        if (string.IsNullOrEmpty(p.Name)) throw new ArgumentException("an adapter parameter needs a name");
        if (p.Dimensions.Count == 0)
            throw new ArgumentException($"adapter parameter '{p.Name}' has no dimensions (ONNX Runtime refuses those; use [1] for a scalar)");
        if (p.Dimensions.Any(d => d < 0)) throw new ArgumentException($"adapter parameter '{p.Name}' has a negative dimension");
        var count = p.Dimensions.Aggregate(1L, (a, d) => checked(a * d));
        var size = ElementSize(p.DataType) ?? throw new ArgumentException($"adapter parameter '{p.Name}': element type {p.DataType} is not supported");
        if (p.RawData.LongLength != count * size)
            throw new ArgumentException($"adapter parameter '{p.Name}': {p.RawData.Length} bytes for {count} element(s) of {size} byte(s)");
    }

    private static int? ElementSize(int dataType) => dataType switch
    {
        1 or 6 or 12 => 4,          // float, int32, uint32
        2 or 3 or 9 => 1,           // uint8, int8, bool
        4 or 5 or 10 or 16 => 2,    // uint16, int16, float16, bfloat16
        7 or 11 or 13 => 8,         // int64, double, uint64
        _ => null,
    };

    /// <summary>A little-endian byte buffer written front to back, with offsets patched once their target is known.</summary>
    private sealed class ForwardBuffer
    {
        private readonly MemoryStream _bytes = new();

        public int Position => (int)_bytes.Length;

        public void Bytes(ReadOnlySpan<byte> data) => _bytes.Write(data);

        public void UInt32(uint value)
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(b, value);
            _bytes.Write(b);
        }

        public void Int64(long value)
        {
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(b, value);
            _bytes.Write(b);
        }

        private void UInt16(ushort value)
        {
            Span<byte> b = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(b, value);
            _bytes.Write(b);
        }

        /// <summary>A 4-byte offset slot to <see cref="Patch"/> later; returns its position.</summary>
        public int Offset()
        {
            var at = Position;
            UInt32(0);
            return at;
        }

        public void Align(int alignment)
        {
            while (Position % alignment != 0) _bytes.WriteByte(0);
        }

        /// <summary>Pads so that a vector's elements (after its 4-byte length) start on <paramref name="alignment"/>.</summary>
        public void AlignVector(int alignment)
        {
            while ((Position + 4) % alignment != 0) _bytes.WriteByte(0);
        }

        /// <summary>Writes a vtable and then a table of 4-byte fields (all present); returns their positions.</summary>
        public (int Start, int[] Fields) Table(int[] fieldSizes)
        {
            Align(4);
            var vtable = Position;
            var tableSize = 4 + fieldSizes.Sum();
            UInt16((ushort)(4 + 2 * fieldSizes.Length));
            UInt16((ushort)tableSize);
            var offset = 4;
            foreach (var size in fieldSizes)
            {
                UInt16((ushort)offset);
                offset += size;
            }
            Align(4);
            var start = Position;
            UInt32((uint)(start - vtable)); // soffset: the vtable sits this many bytes before the table
            var fields = new int[fieldSizes.Length];
            for (var i = 0; i < fields.Length; i++) fields[i] = Offset();
            return (start, fields);
        }

        /// <summary>Points the offset slot at <paramref name="slot"/> to <paramref name="target"/> (which lies after it).</summary>
        public void Patch(int slot, int target) => SetUInt32(slot, checked((uint)(target - slot)));

        public void SetInt32(int at, int value) => SetUInt32(at, unchecked((uint)value));

        private void SetUInt32(int at, uint value)
        {
            var end = _bytes.Position;
            _bytes.Position = at;
            UInt32(value);
            _bytes.Position = end;
        }

        public byte[] ToArray() => _bytes.ToArray();
    }
}
