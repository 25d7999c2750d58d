using System.Runtime.InteropServices;
using Onnx;
using OnnxSteer.ModelFiles;
using Xunit;

namespace OnnxSteer.Tests.ModelFiles;

public sealed class ExternalDataWriterTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static TensorProto Bytes(string name, int count)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Uint8 };
        t.Dims.Add(count);
        return t;
    }

    [Theory]
    [InlineData(4096)]
    [InlineData(64)]
    [InlineData(1)]
    public void TensorsLandAtAlignedOffsetsAndReadBack(long alignment)
    {
        var sizes = new[] { 10, 5000, 3 };
        var tensors = sizes.Select((n, i) => Bytes($"t{i}", n)).ToArray();
        var payloads = sizes.Select((n, i) => Enumerable.Range(0, n).Select(k => (byte)(k * 7 + i + 1)).ToArray()).ToArray();
        using (var writer = new ExternalDataWriter(_temp.Path, "weights.bin", alignment))
        {
            for (var i = 0; i < tensors.Length; i++) writer.Write(tensors[i], payloads[i]);
            Assert.False(File.Exists(_temp["weights.bin"])); // nothing under the real name before Commit
            writer.Commit();
        }
        long expectedOffset = 0;
        for (var i = 0; i < tensors.Length; i++)
        {
            var reference = ExternalDataReference.Parse(tensors[i], "test");
            Assert.Equal("weights.bin", reference.Location);
            Assert.Equal(expectedOffset, reference.Offset);
            Assert.Equal(0, reference.Offset % alignment);
            Assert.Equal(sizes[i], reference.Length);
            Assert.Equal(TensorProto.Types.DataLocation.External, tensors[i].DataLocation);
            Assert.False(tensors[i].HasRawData);
            Assert.Equal(payloads[i], TensorData.ReadBytes(tensors[i], _temp.Path, "test"));
            expectedOffset = (expectedOffset + sizes[i] + alignment - 1) / alignment * alignment;
        }
        Assert.Equal(ExternalDataReference.Parse(tensors[^1], "t").Offset + 3, new FileInfo(_temp["weights.bin"]).Length);
        Assert.Single(Directory.GetFiles(_temp.Path)); // no temporary file left behind
    }

    [Fact]
    public void DisposingWithoutCommitLeavesNothing()
    {
        using (var writer = new ExternalDataWriter(_temp.Path, "w.bin"))
            writer.Write(Bytes("a", 100), new byte[100]);
        Assert.Empty(Directory.GetFiles(_temp.Path));
    }

    [Fact]
    public void AStreamedTensorWithZeroBlocksKeepsItsValues()
    {
        // 3 MiB: zero blocks become holes, the non-zero bytes at 1 MiB + 5 and at the end must still be there.
        var data = new byte[3 << 20];
        data[(1 << 20) + 5] = 42;
        data[^1] = 7;
        var t = Bytes("big", data.Length);
        using (var writer = new ExternalDataWriter(_temp.Path, "w.bin"))
        {
            writer.Write(t, new MemoryStream(data), data.Length);
            writer.Commit();
        }
        Assert.Equal(data, TensorData.ReadBytes(t, _temp.Path, "test"));
        Assert.Equal(data.Length, new FileInfo(_temp["w.bin"]).Length);
    }

    [Fact]
    public void ABytesCountThatDisagreesWithTheShapeIsAnError()
    {
        using var writer = new ExternalDataWriter(_temp.Path, "w.bin");
        Assert.Throws<ArgumentException>(() => writer.Write(Bytes("a", 10), new byte[9]));
    }

    [Theory]
    [InlineData("/abs.bin")]
    [InlineData("../up.bin")]
    public void AnUnsafeDataFileNameIsRefused(string location) =>
        Assert.Throws<InvalidModelException>(() => new ExternalDataWriter(_temp.Path, location));

    [Fact]
    public void Float16AndBFloat16RoundTripThroughFloats()
    {
        float[] values = [0f, 1f, -2.5f, 65504f, 1e-3f, float.NegativeInfinity];
        var f16 = TensorData.FromFloats("h", [6], values, TensorProto.Types.DataType.Float16);
        var bf16 = TensorData.FromFloats("b", [6], values, TensorProto.Types.DataType.Bfloat16);
        Assert.Equal(12, f16.RawData.Length);
        var back16 = TensorData.ReadFloats(f16, _temp.Path, "t");
        var backBf = TensorData.ReadFloats(bf16, _temp.Path, "t");
        for (var i = 0; i < values.Length; i++)
        {
            // Independent check: System.Half's own rounding for fp16; bfloat16 keeps 8 significant bits (rel. error <= 2^-9).
            Assert.Equal((float)(Half)values[i], back16[i]);
            if (float.IsFinite(values[i])) Assert.True(Math.Abs(backBf[i] - values[i]) <= Math.Abs(values[i]) / 512f, $"{values[i]} -> {backBf[i]}");
            else Assert.Equal(values[i], backBf[i]);
        }
        Assert.Equal(0x3F80, TensorData.FloatToBFloat16(1f));
        Assert.Equal(0x3F80, TensorData.FloatToBFloat16(BitConverter.Int32BitsToSingle(0x3F808000))); // tie -> even
        Assert.Equal(0x3F82, TensorData.FloatToBFloat16(BitConverter.Int32BitsToSingle(0x3F818000))); // tie -> even (up)
        Assert.True(float.IsNaN(TensorData.BFloat16ToFloat(TensorData.FloatToBFloat16(float.NaN))));
    }

    [Fact]
    public void TypedFieldsReadAsRawLayout()
    {
        var f16 = new TensorProto { Name = "h", DataType = (int)TensorProto.Types.DataType.Float16 };
        f16.Dims.Add(2);
        f16.Int32Data.Add([BitConverter.HalfToUInt16Bits((Half)1.5f), BitConverter.HalfToUInt16Bits((Half)(-3f))]);
        Assert.Equal([1.5f, -3f], TensorData.ReadFloats(f16, _temp.Path, "t"));

        var i8 = new TensorProto { Name = "i8", DataType = (int)TensorProto.Types.DataType.Int8 };
        i8.Dims.Add(3);
        i8.Int32Data.Add([-1, 5, -128]);
        Assert.Equal([-1L, 5, -128], TensorData.ReadInt64s(i8, _temp.Path, "t"));

        var u32 = new TensorProto { Name = "u32", DataType = (int)TensorProto.Types.DataType.Uint32 };
        u32.Dims.Add(2);
        u32.Uint64Data.Add([4000000000UL, 1UL]);
        Assert.Equal([4000000000L, 1L], TensorData.ReadInt64s(u32, _temp.Path, "t"));

        var wrong = new TensorProto { Name = "short", DataType = (int)TensorProto.Types.DataType.Float };
        wrong.Dims.Add(3);
        wrong.FloatData.Add(1f);
        var e = Assert.Throws<InvalidModelException>(() => TensorData.ReadBytes(wrong, _temp.Path, "m.onnx"));
        Assert.Contains("holds 4 bytes", e.Message);
    }
}
