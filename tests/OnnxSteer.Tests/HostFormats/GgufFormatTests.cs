using OnnxSteer.HostFormats;
using OnnxSteer.Tests.Patching;
using Xunit;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.HostFormats;

/// <summary>
/// The GGUF reader and writer against the spec (ggml docs/gguf.md): files assembled byte by byte in the test
/// (<see cref="SpecBytes"/>) are read, and the writer reproduces them byte for byte; a write/read round trip keeps every
/// value type; malformed files are each refused with one message naming the file.
/// </summary>
public sealed class GgufFormatTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Save(byte[] bytes, string name = "v.gguf")
    {
        var path = _dir[name];
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>
    /// A control vector as repeng's export_gguf writes it, assembled per the spec: 3 metadata pairs, direction.1 = [1,2,3]
    /// and direction.2 = [4,5,6] (F32, 1-D), the header padded to 32, each tensor's 12 bytes padded to 32.
    /// </summary>
    private static SpecBytes HandMadeControlVector(uint version = 3, bool padLastTensor = true)
    {
        var b = new SpecBytes()
            .Header(version, tensors: 2, kvs: 3)
            .KvString("general.architecture", "controlvector")
            .KvString("controlvector.model_hint", "llama")
            .KvU32("controlvector.layer_count", 2)
            .TensorInfo("direction.1", [3], type: 0, offset: 0)
            .TensorInfo("direction.2", [3], type: 0, offset: 32)
            .PadTo(32)
            .F32(1).F32(2).F32(3).PadTo(32)
            .F32(4).F32(5).F32(6);
        return padLastTensor ? b.PadTo(32) : b;
    }

    [Fact]
    public void A_control_vector_assembled_byte_by_byte_from_the_spec_reads_back_and_the_writer_reproduces_its_bytes()
    {
        var spec = HandMadeControlVector().ToArray();
        Assert.Equal(320, spec.Length); // 24 header + 143 for 3 pairs + 86 for 2 infos = 253 bytes, padded to 256; 2 × 32 data
        var read = ControlVectorFile.Read(Save(spec));
        Assert.Equal("llama", read.Vector.ModelHint);
        Assert.Equal(2, read.Vector.LayerCount);
        Assert.Equal([1, 2], read.Vector.Directions.Keys.Order());
        Assert.Equal([1f, 2f, 3f], read.Vector.Directions[1]);
        Assert.Equal([4f, 5f, 6f], read.Vector.Directions[2]);
        Assert.Empty(read.Warnings);

        var written = GgufWriter.ToBytes(ControlVectorFile.Metadata(read.Vector), ControlVectorFile.Tensors(read.Vector));
        Assert.Equal(spec, written);

        var file = GgufReader.Read(Save(spec));
        Assert.Equal(3u, file.Version);
        Assert.Equal(32u, file.Alignment);
        Assert.Equal(256, file.DataStart);
        Assert.Equal([0UL, 32UL], file.Tensors.Select(t => t.Offset));
    }

    [Fact]
    public void Version_2_an_int32_layer_count_and_an_unpadded_last_tensor_are_read_too()
    {
        var b = new SpecBytes()
            .Header(2, tensors: 1, kvs: 2)
            .KvString("general.architecture", "controlvector")
            .KvI32("controlvector.layer_count", 31)
            .TensorInfo("direction.7", [2], type: 0, offset: 0)
            .PadTo(32)
            .F32(-0.5f).F32(float.Epsilon);
        var read = ControlVectorFile.Read(Save(b.ToArray()));
        Assert.Equal(31, read.Vector.LayerCount);
        Assert.Null(read.Vector.ModelHint);
        Assert.Equal([-0.5f, float.Epsilon], read.Vector.Directions[7]);
    }

    [Fact]
    public void Every_metadata_type_a_custom_alignment_and_a_2d_tensor_survive_a_write_read_round_trip()
    {
        var nested = new GgufArray(GgufValueType.Array, [
            new GgufValue(GgufValueType.Array, new GgufArray(GgufValueType.Int16, [new(GgufValueType.Int16, (short)-7)])),
        ]);
        var metadata = new List<KeyValuePair<string, GgufValue>>
        {
            new("general.architecture", GgufValue.Of("test")),
            new("general.alignment", GgufValue.Of(64u)),
            new("t.u8", new(GgufValueType.UInt8, (byte)250)),
            new("t.i8", new(GgufValueType.Int8, (sbyte)-5)),
            new("t.u16", new(GgufValueType.UInt16, (ushort)65000)),
            new("t.i16", new(GgufValueType.Int16, (short)-32000)),
            new("t.u32", GgufValue.Of(4000000000u)),
            new("t.i32", GgufValue.Of(-2000000000)),
            new("t.f32", GgufValue.Of(3.25f)),
            new("t.bool", GgufValue.Of(true)),
            new("t.str", GgufValue.Of("héllo ✓")),
            new("t.u64", GgufValue.Of(ulong.MaxValue)),
            new("t.i64", new(GgufValueType.Int64, long.MinValue)),
            new("t.f64", new(GgufValueType.Float64, Math.PI)),
            new("t.strings", new(GgufValueType.Array, new GgufArray(GgufValueType.String, [GgufValue.Of("a"), GgufValue.Of("")]))),
            new("t.nested", new(GgufValueType.Array, nested)),
        };
        var rng = new Random(5);
        var matrix = Enumerable.Range(0, 15).Select(_ => (float)rng.NextDouble()).ToArray();
        var tensors = new List<GgufF32Tensor> { GgufF32Tensor.Vector("a", [1f, -2f]), new("m", [5, 3], matrix), GgufF32Tensor.Vector("b", [9f]) };
        var path = _dir["all.gguf"];
        GgufWriter.Write(path, metadata, tensors);

        var file = GgufReader.Read(path);
        Assert.Equal(64u, file.Alignment);
        Assert.Equal(0, file.DataStart % 64);
        Assert.Equal([0UL, 64UL, 128UL], file.Tensors.Select(t => t.Offset));
        Assert.Equal(metadata.Count, file.Metadata.Count);
        for (var i = 0; i < metadata.Count; i++)
        {
            Assert.Equal(metadata[i].Key, file.Metadata[i].Key);
            Assert.Equal(metadata[i].Value.Type, file.Metadata[i].Value.Type);
            if (metadata[i].Value.Value is GgufArray expected)
                Assert.Equal(Flatten(expected), Flatten((GgufArray)file.Metadata[i].Value.Value));
            else Assert.Equal(metadata[i].Value.Value, file.Metadata[i].Value.Value);
        }
        Assert.Equal([5UL, 3UL], file.Tensor("m")!.Dimensions);
        Assert.Equal(matrix, GgufReader.ReadF32(file, file.Tensor("m")!));
        Assert.Equal([1f, -2f], GgufReader.ReadF32(file, file.Tensor("a")!));
        Assert.Equal([9f], GgufReader.ReadF32(file, file.Tensor("b")!));
    }

    private static string Flatten(GgufArray a) =>
        $"{a.ElementType}[{string.Join(",", a.Items.Select(i => i.Value is GgufArray inner ? Flatten(inner) : $"{i.Type}:{i}"))}]";

    public static TheoryData<string, string> Malformed() => new()
    {
        { "bad magic", "does not start with the bytes 'GGUF'" },
        { "version 1", "version 1 is not supported" },
        { "big-endian", "looks big-endian" },
        { "huge tensor count", "impossible for a file of" },
        { "huge metadata count", "impossible for a file of" },
        { "huge string length", "claims 1152921504606846976 bytes" },
        { "huge array length", "array elements" },
        { "wrong architecture", "is 'llama', not 'controlvector'" },
        { "no architecture", "no general.architecture" },
        { "F16 direction", "tensor 'direction.1' is F16" },
        { "Q4_K direction", "tensor 'direction.1' is Q4_K" },
        { "tensor beyond the file", "lies beyond the end of the file" },
        { "offset not aligned", "is not a multiple of the alignment 32" },
        { "alignment not a power of two", "must be a uint32 power of two" },
        { "duplicate key", "appears twice" },
        { "bool byte 2", "must be 0 or 1" },
        { "5 dimensions", "has 5 dimensions" },
        { "2-D direction", "a direction is 1-D" },
        { "direction.x", "must be a layer number" },
        { "mixed widths", "all directions must have one width" },
        { "no directions", "no direction.N tensors" },
        { "NaN element", "not finite" },
        { "unknown value type", "unknown value type 13" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void A_malformed_file_is_refused_with_one_line_naming_the_file(string name, string expected)
    {
        var bytes = name switch
        {
            "bad magic" => HandMadeControlVector().ToArray().Select((b, i) => i == 0 ? (byte)'X' : b).ToArray(),
            "version 1" => new SpecBytes().Header(1, 0, 0).ToArray(),
            "big-endian" => new SpecBytes().Raw(0x47, 0x47, 0x55, 0x46).Raw(0, 0, 0, 3).Raw(new byte[16]).ToArray(),
            "huge tensor count" => new SpecBytes().Header(3, ulong.MaxValue, 0).ToArray(),
            "huge metadata count" => new SpecBytes().Header(3, 0, 1UL << 40).ToArray(),
            "huge string length" => new SpecBytes().Header(3, 0, 1).U64(1UL << 60).Raw(new byte[16]).ToArray(),
            "huge array length" => new SpecBytes().Header(3, 0, 1).Str("k").U32(9).U32(4).U64(1UL << 61).ToArray(),
            "wrong architecture" => Cv(arch: "llama"),
            "no architecture" => new SpecBytes().Header(3, 1, 0).TensorInfo("direction.1", [1], 0, 0).PadTo(32).F32(1).ToArray(),
            "F16 direction" => Cv(type: 1, dataBytes: 2),
            "Q4_K direction" => Cv(type: 12, dataBytes: 144),
            "tensor beyond the file" => Cv(offset: 1UL << 40),
            "offset not aligned" => Cv(offset: 4),
            "alignment not a power of two" => new SpecBytes().Header(3, 0, 1).KvU32("general.alignment", 48).ToArray(),
            "duplicate key" => new SpecBytes().Header(3, 0, 2).KvU32("a.b", 1).KvU32("a.b", 2).ToArray(),
            "bool byte 2" => new SpecBytes().Header(3, 0, 1).Str("a.b").U32(7).U8(2).ToArray(),
            "5 dimensions" => new SpecBytes().Header(3, 1, 0).TensorInfo("t", [1, 1, 1, 1, 1], 0, 0).PadTo(32).F32(1).ToArray(),
            "2-D direction" => new SpecBytes().Header(3, 1, 1).KvString("general.architecture", "controlvector")
                .TensorInfo("direction.1", [2, 2], 0, 0).PadTo(32).F32(1).F32(2).F32(3).F32(4).ToArray(),
            "direction.x" => Cv(tensorName: "direction.x"),
            "mixed widths" => new SpecBytes().Header(3, 2, 1).KvString("general.architecture", "controlvector")
                .TensorInfo("direction.1", [1], 0, 0).TensorInfo("direction.2", [2], 0, 32).PadTo(32)
                .F32(1).PadTo(32).F32(1).F32(2).ToArray(),
            "no directions" => new SpecBytes().Header(3, 0, 1).KvString("general.architecture", "controlvector").ToArray(),
            "NaN element" => Cv(value: float.NaN),
            "unknown value type" => new SpecBytes().Header(3, 0, 1).Str("a.b").U32(13).U32(0).ToArray(),
            _ => throw new ArgumentException(name),
        };
        var path = Save(bytes, name.Replace(' ', '-') + ".gguf");
        var e = Assert.ThrowsAny<InvalidGgufException>(() => ControlVectorFile.Read(path));
        Assert.Equal(ExitCodes.InvalidInput, ErrorReporter.ExitCode(e));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    /// <summary>A one-direction control vector with one thing changed.</summary>
    private static byte[] Cv(string arch = "controlvector", uint type = 0, int dataBytes = 4, ulong offset = 0,
        string tensorName = "direction.1", float value = 1f)
    {
        var b = new SpecBytes().Header(3, 1, 1).KvString("general.architecture", arch)
            .TensorInfo(tensorName, [1], type, offset).PadTo(32);
        if (type == 0) b.F32(value);
        else b.Raw(new byte[dataBytes]);
        return b.PadTo(32).ToArray();
    }

    [Fact]
    public void Every_truncation_of_a_valid_file_is_refused_naming_the_file_unless_only_trailing_padding_is_cut()
    {
        var full = HandMadeControlVector().ToArray();
        const int endOfLastTensor = 256 + 32 + 12;
        for (var length = 0; length < full.Length; length++)
        {
            var path = Save(full[..length], "cut.gguf");
            if (length >= endOfLastTensor)
            {
                Assert.Equal([4f, 5f, 6f], ControlVectorFile.Read(path).Vector.Directions[2]);
                continue;
            }
            var e = Assert.ThrowsAny<InvalidGgufException>(() => ControlVectorFile.Read(path));
            Assert.StartsWith(path + ": ", e.Message);
        }
    }

    [Fact]
    public void Six_hundred_single_byte_mutations_give_a_vector_or_an_InvalidGgufException_never_another_error()
    {
        var full = HandMadeControlVector().ToArray();
        var rng = new Random(11);
        int refused = 0, read = 0;
        for (var i = 0; i < 600; i++)
        {
            var bytes = (byte[])full.Clone();
            var at = rng.Next(bytes.Length);
            bytes[at] = rng.Next(4) switch { 0 => 0xFF, 1 => 0, 2 => (byte)(bytes[at] ^ (1 << rng.Next(8))), _ => (byte)rng.Next(256) };
            var path = Save(bytes, "mutant.gguf");
            try { ControlVectorFile.Read(path); read++; }
            catch (InvalidGgufException e) { Assert.StartsWith(path + ": ", e.Message); refused++; }
        }
        Assert.True(refused > 100 && read > 100, $"refused {refused}, read {read}");
    }
}
