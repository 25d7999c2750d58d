namespace OnnxSteer.HostFormats;

/// <summary>
/// Metadata value types of GGUF (ggml docs/gguf.md, <c>gguf_metadata_value_type</c>): the uint32 written before every
/// value. Versions 2 and 3 share these numbers and the layout; v1 had no 64-bit types and 32-bit lengths.
/// </summary>
internal enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    /// <summary>One byte, 0 or 1; anything else makes the file invalid.</summary>
    Bool = 7,
    /// <summary>uint64 byte length, then UTF-8 bytes without a terminator.</summary>
    String = 8,
    /// <summary>uint32 element type, uint64 element count, then the elements.</summary>
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>
/// Tensor element types of ggml (<c>ggml_type</c>). Only <see cref="F32"/> tensors are read and written here; the
/// others are named so an error can say what a file holds.
/// </summary>
internal enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    BF16 = 30,
}

/// <summary>One metadata value: its type and the .NET value (byte, sbyte, ushort, short, uint, int, float, bool,
/// string, ulong, long, double, or <see cref="GgufArray"/>).</summary>
internal sealed record GgufValue(GgufValueType Type, object Value)
{
    public static GgufValue Of(string value) => new(GgufValueType.String, value);
    public static GgufValue Of(uint value) => new(GgufValueType.UInt32, value);
    public static GgufValue Of(int value) => new(GgufValueType.Int32, value);
    public static GgufValue Of(ulong value) => new(GgufValueType.UInt64, value);
    public static GgufValue Of(float value) => new(GgufValueType.Float32, value);
    public static GgufValue Of(bool value) => new(GgufValueType.Bool, value);

    /// <summary>The value as a signed 64-bit integer when it is of an integer type that fits, else null.</summary>
    public long? AsInteger() => Value switch
    {
        byte b => b, sbyte sb => sb, ushort us => us, short s => s, uint ui => ui, int i => i, long l => l,
        ulong ul when ul <= long.MaxValue => (long)ul,
        _ => null,
    };

    /// <summary>The value as text, for messages and listings.</summary>
    public override string ToString() => Value switch
    {
        string s => s,
        GgufArray a => $"[{a.ElementType} × {a.Items.Count}]",
        float f => f.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        _ => Convert.ToString(Value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };
}

/// <summary>An array value: one element type for all items (arrays of arrays allowed).</summary>
internal sealed record GgufArray(GgufValueType ElementType, IReadOnlyList<GgufValue> Items);

/// <summary>
/// A tensor's description in a GGUF file: name, dimensions (ggml order: ne[0] is the innermost, contiguous one),
/// element type, and its data offset relative to the start of the tensor data section (a multiple of the alignment).
/// </summary>
internal sealed record GgufTensorInfo(string Name, IReadOnlyList<ulong> Dimensions, GgmlType Type, ulong Offset)
{
    /// <summary>Number of elements (product of the dimensions).</summary>
    public ulong ElementCount => Dimensions.Aggregate(1UL, (a, d) => checked(a * d));

    /// <summary>The type's name for messages, e.g. F32, Q4_K or type 99.</summary>
    public string TypeName => Enum.IsDefined(Type) ? Type.ToString() : $"type {(uint)Type}";
}

/// <summary>
/// The parsed structure of a GGUF file: version, ordered metadata, tensor infos, alignment, and where the tensor data
/// starts. Tensor data is read on demand with <see cref="GgufReader.ReadF32"/>.
/// </summary>
internal sealed class GgufFile
{
    /// <summary>The 4 magic bytes every GGUF file starts with: ASCII "GGUF".</summary>
    public static ReadOnlySpan<byte> Magic => "GGUF"u8;

    /// <summary>The alignment when <c>general.alignment</c> is absent.</summary>
    public const uint DefaultAlignment = 32;

    /// <summary>The metadata key that overrides the alignment (uint32, a power of two).</summary>
    public const string AlignmentKey = "general.alignment";

    /// <summary>The key naming the architecture (<c>controlvector</c> for control vectors).</summary>
    public const string ArchitectureKey = "general.architecture";

    /// <summary>Where the file was read from (used in messages).</summary>
    public required string Path { get; init; }

    /// <summary>Format version: 2 or 3 (same layout; v3 allows big-endian files, which are refused here).</summary>
    public required uint Version { get; init; }

    /// <summary>Metadata in file order.</summary>
    public required IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata { get; init; }

    /// <summary>Tensor infos in file order.</summary>
    public required IReadOnlyList<GgufTensorInfo> Tensors { get; init; }

    /// <summary>The alignment in force: <c>general.alignment</c> or 32.</summary>
    public required uint Alignment { get; init; }

    /// <summary>Absolute file offset of the tensor data section (the end of the tensor infos, aligned).</summary>
    public required long DataStart { get; init; }

    /// <summary>Total file length in bytes.</summary>
    public required long Length { get; init; }

    /// <summary>The value of <paramref name="key"/>, or null.</summary>
    public GgufValue? Get(string key)
    {
        foreach (var kv in Metadata) if (kv.Key == key) return kv.Value;
        return null;
    }

    /// <summary>The string value of <paramref name="key"/>, or null when absent or not a string.</summary>
    public string? GetString(string key) => Get(key)?.Value as string;

    /// <summary>The tensor named <paramref name="name"/>, or null.</summary>
    public GgufTensorInfo? Tensor(string name) => Tensors.FirstOrDefault(t => t.Name == name);
}
