using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using DT = Onnx.TensorProto.Types.DataType;

namespace OnnxSteer.ModelFiles;

/// <summary>
/// Reads a tensor's values wherever they are stored: <c>raw_data</c>, the typed fields (<c>float_data</c>,
/// <c>int32_data</c>, ...) or an external data file. Nothing is read until asked; external reads go through
/// <see cref="ExternalDataGuard"/>. Bytes are little-endian, laid out as ONNX's <c>raw_data</c> would hold them.
/// </summary>
internal static class TensorData
{
    /// <summary>Bytes the tensor's values take in <c>raw_data</c> form, or -1 for STRING and unknown types.</summary>
    public static long ByteSize(TensorProto tensor) =>
        DataTypes.ByteSize(tensor.DataType, DataTypes.ElementCount(tensor.Dims));

    /// <summary>The tensor's bytes, reading external data from <paramref name="model"/>'s folder.</summary>
    public static byte[] ReadBytes(TensorProto tensor, OnnxModel model) =>
        ReadBytes(tensor, model.BaseDirectory, model.DisplayName);

    /// <summary>The tensor's bytes. External data is resolved against <paramref name="baseDirectory"/>;
    /// <paramref name="modelFile"/> names the model in error messages.</summary>
    public static byte[] ReadBytes(TensorProto tensor, string baseDirectory, string modelFile)
    {
        if (!ExternalDataReference.IsExternal(tensor)) return InlineBytes(tensor, modelFile);
        var span = ExternalDataSpan.Locate(tensor, baseDirectory, modelFile);
        if (span.Length > Array.MaxLength)
            throw new OnnxSteerException($"{modelFile}: tensor '{tensor.Name}' holds {span.Length} bytes, more than one array can hold; read it with OpenRead");
        var bytes = new byte[span.Length];
        using var stream = new BoundedReadStream(span.FilePath, span.Offset, span.Length);
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>A stream over the tensor's bytes, for tensors too large to hold in memory (weights above 2 GB).</summary>
    public static Stream OpenRead(TensorProto tensor, string baseDirectory, string modelFile)
    {
        if (!ExternalDataReference.IsExternal(tensor)) return new MemoryStream(InlineBytes(tensor, modelFile), writable: false);
        var span = ExternalDataSpan.Locate(tensor, baseDirectory, modelFile);
        return new BoundedReadStream(span.FilePath, span.Offset, span.Length);
    }

    /// <summary>The tensor's values as floats: float, float16, bfloat16 and double are converted; other types are refused.</summary>
    public static float[] ReadFloats(TensorProto tensor, OnnxModel model) =>
        ReadFloats(tensor, model.BaseDirectory, model.DisplayName);

    /// <inheritdoc cref="ReadFloats(TensorProto, OnnxModel)"/>
    public static float[] ReadFloats(TensorProto tensor, string baseDirectory, string modelFile)
    {
        var bytes = ReadBytes(tensor, baseDirectory, modelFile);
        return (DT)tensor.DataType switch
        {
            DT.Float => MemoryMarshal.Cast<byte, float>(bytes).ToArray(),
            DT.Float16 => MemoryMarshal.Cast<byte, Half>(bytes).ToArray().Select(h => (float)h).ToArray(),
            DT.Bfloat16 => MemoryMarshal.Cast<byte, ushort>(bytes).ToArray().Select(BFloat16ToFloat).ToArray(),
            DT.Double => MemoryMarshal.Cast<byte, double>(bytes).ToArray().Select(d => (float)d).ToArray(),
            _ => throw new OnnxSteerException($"{modelFile}: tensor '{tensor.Name}' is {DataTypes.Name(tensor.DataType)}, not a floating-point type"),
        };
    }

    /// <summary>The tensor's values as 64-bit integers: every integer type and bool; other types are refused.</summary>
    public static long[] ReadInt64s(TensorProto tensor, OnnxModel model) =>
        ReadInt64s(tensor, model.BaseDirectory, model.DisplayName);

    /// <inheritdoc cref="ReadInt64s(TensorProto, OnnxModel)"/>
    public static long[] ReadInt64s(TensorProto tensor, string baseDirectory, string modelFile)
    {
        var bytes = ReadBytes(tensor, baseDirectory, modelFile);
        return (DT)tensor.DataType switch
        {
            DT.Int64 => MemoryMarshal.Cast<byte, long>(bytes).ToArray(),
            DT.Uint64 => MemoryMarshal.Cast<byte, ulong>(bytes).ToArray().Select(v => unchecked((long)v)).ToArray(),
            DT.Int32 => MemoryMarshal.Cast<byte, int>(bytes).ToArray().Select(v => (long)v).ToArray(),
            DT.Uint32 => MemoryMarshal.Cast<byte, uint>(bytes).ToArray().Select(v => (long)v).ToArray(),
            DT.Int16 => MemoryMarshal.Cast<byte, short>(bytes).ToArray().Select(v => (long)v).ToArray(),
            DT.Uint16 => MemoryMarshal.Cast<byte, ushort>(bytes).ToArray().Select(v => (long)v).ToArray(),
            DT.Int8 => bytes.Select(b => (long)(sbyte)b).ToArray(),
            DT.Uint8 or DT.Bool => bytes.Select(b => (long)b).ToArray(),
            _ => throw new OnnxSteerException($"{modelFile}: tensor '{tensor.Name}' is {DataTypes.Name(tensor.DataType)}, not an integer type"),
        };
    }

    /// <summary>A new tensor holding <paramref name="values"/> in <c>raw_data</c>, encoded as float, float16 or bfloat16.</summary>
    public static TensorProto FromFloats(string name, IReadOnlyList<long> dims, ReadOnlySpan<float> values, DT dataType = DT.Float)
    {
        if (DataTypes.ElementCount(dims) != values.Length)
            throw new ArgumentException($"tensor '{name}': {values.Length} values do not fill shape [{string.Join(",", dims)}]");
        byte[] bytes = dataType switch
        {
            DT.Float => MemoryMarshal.AsBytes(values).ToArray(),
            DT.Float16 => EncodeEach(values, 2, (v, dst) => BinaryPrimitives.WriteHalfLittleEndian(dst, (Half)v)),
            DT.Bfloat16 => EncodeEach(values, 2, (v, dst) => BinaryPrimitives.WriteUInt16LittleEndian(dst, FloatToBFloat16(v))),
            _ => throw new ArgumentException($"tensor '{name}': FromFloats encodes float, float16 or bfloat16, not {dataType}"),
        };
        var tensor = new TensorProto { Name = name, DataType = (int)dataType, RawData = ByteString.CopyFrom(bytes) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }

    /// <summary>A bfloat16 bit pattern as a float (exact: bfloat16 is the top half of a float).</summary>
    public static float BFloat16ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>The nearest bfloat16 to <paramref name="value"/> (round to nearest, ties to even; NaN stays NaN).</summary>
    public static ushort FloatToBFloat16(float value)
    {
        var bits = (uint)BitConverter.SingleToInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40); // keep it a quiet NaN after truncation
        var rounding = 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>The bytes of an inline tensor: <c>raw_data</c> when present, else its typed field converted to raw layout.</summary>
    public static byte[] InlineBytes(TensorProto tensor, string modelFile)
    {
        var expected = ByteSize(tensor);
        if ((DT)tensor.DataType == DT.String)
            throw new OnnxSteerException($"{modelFile}: tensor '{tensor.Name}' holds strings, which have no byte layout");
        if (expected < 0)
            throw new InvalidModelException($"{modelFile}: tensor '{tensor.Name}' has unknown data type {tensor.DataType}");
        byte[] bytes = tensor.HasRawData ? tensor.RawData.ToByteArray() : TypedFieldBytes(tensor);
        if (bytes.LongLength != expected)
            throw new InvalidModelException(
                $"{modelFile}: tensor '{tensor.Name}' holds {bytes.LongLength} bytes but its shape [{string.Join(",", tensor.Dims)}] and type {DataTypes.Name(tensor.DataType)} need {expected}");
        return bytes;
    }

    /// <summary>Removes every form of stored values (raw, typed, external) so exactly one can be set.</summary>
    public static void ClearStorage(TensorProto tensor)
    {
        tensor.ClearRawData();
        tensor.FloatData.Clear();
        tensor.Int32Data.Clear();
        tensor.Int64Data.Clear();
        tensor.DoubleData.Clear();
        tensor.Uint64Data.Clear();
        tensor.ExternalData.Clear();
        tensor.ClearDataLocation();
    }

    private static byte[] TypedFieldBytes(TensorProto t) => (DT)t.DataType switch
    {
        DT.Float or DT.Complex64 => MemoryMarshal.AsBytes(t.FloatData.ToArray().AsSpan()).ToArray(),
        DT.Double or DT.Complex128 => MemoryMarshal.AsBytes(t.DoubleData.ToArray().AsSpan()).ToArray(),
        DT.Int64 => MemoryMarshal.AsBytes(t.Int64Data.ToArray().AsSpan()).ToArray(),
        DT.Uint64 => MemoryMarshal.AsBytes(t.Uint64Data.ToArray().AsSpan()).ToArray(),
        DT.Uint32 => MemoryMarshal.AsBytes(t.Uint64Data.Select(v => (uint)v).ToArray().AsSpan()).ToArray(),
        DT.Int32 => MemoryMarshal.AsBytes(t.Int32Data.ToArray().AsSpan()).ToArray(),
        // 16-bit types (float16 and bfloat16 as their bit patterns) sit one per int32.
        DT.Int16 or DT.Uint16 or DT.Float16 or DT.Bfloat16 =>
            MemoryMarshal.AsBytes(t.Int32Data.Select(v => unchecked((ushort)v)).ToArray().AsSpan()).ToArray(),
        // 8-bit types sit one per int32; so do the packed bytes of 4- and 2-bit types (as onnx.helper writes them).
        _ => t.Int32Data.Select(v => unchecked((byte)v)).ToArray(),
    };

    private static byte[] EncodeEach(ReadOnlySpan<float> values, int width, Action<float, Span<byte>> write)
    {
        var bytes = new byte[values.Length * width];
        for (var i = 0; i < values.Length; i++) write(values[i], bytes.AsSpan(i * width, width));
        return bytes;
    }
}
