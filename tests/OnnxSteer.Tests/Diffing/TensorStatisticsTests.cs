using Google.Protobuf;
using Onnx;
using OnnxSteer.Diffing;
using OnnxSteer.ModelFiles;
using Xunit;

namespace OnnxSteer.Tests.Diffing;

/// <summary>
/// The initializer statistics (differing elements, max |difference|, scaled rows/columns, shared external data)
/// checked against a direct computation over the arrays the models were built from.
/// </summary>
public sealed class TensorStatisticsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("onnxsteer-diff-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const int Float = 1, Float16 = 10, BFloat16 = 16, Double = 11, Int8 = 3, Int64 = 7;

    /// <summary>Encodes values the way ONNX stores them, independently of the code under test.</summary>
    private static (byte[] Bytes, double[] Stored) Encode(float[] values, int type)
    {
        var stored = new double[values.Length];
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        for (var i = 0; i < values.Length; i++)
        {
            switch (type)
            {
                case Float: w.Write(values[i]); stored[i] = values[i]; break;
                case Double: w.Write((double)values[i]); stored[i] = values[i]; break;
                case Float16: var h = (Half)values[i]; w.Write(BitConverter.HalfToUInt16Bits(h)); stored[i] = (double)h; break;
                case BFloat16:
                    var top = (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16); // truncation: any fixed rounding will do
                    w.Write(top); stored[i] = BitConverter.UInt32BitsToSingle((uint)top << 16); break;
                case Int8: var s = (sbyte)Math.Clamp(MathF.Round(values[i] * 100), -128, 127); w.Write(s); stored[i] = s; break;
                case Int64: var l = (long)MathF.Round(values[i] * 1000); w.Write(l); stored[i] = l; break;
            }
        }
        return (ms.ToArray(), stored);
    }

    private static OnnxModel ModelWith(params TensorProto[] tensors)
    {
        var g = new GraphProto { Name = "g" };
        g.Initializer.AddRange(tensors);
        foreach (var t in tensors) g.Output.Add(new ValueInfoProto { Name = t.Name });
        var m = new ModelProto { IrVersion = 8, Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return new OnnxModel(m);
    }

    private static TensorProto Raw(string name, int type, long[] dims, byte[] bytes)
    {
        var t = new TensorProto { Name = name, DataType = type, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }

    [Theory]
    [InlineData(Float)]
    [InlineData(Float16)]
    [InlineData(BFloat16)]
    [InlineData(Double)]
    [InlineData(Int8)]
    [InlineData(Int64)]
    public void Differing_count_and_max_difference_match_a_direct_computation(int type)
    {
        var rng = new Random(type);
        var a = Enumerable.Range(0, 5000).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var b = (float[])a.Clone();
        for (var k = 0; k < 40; k++) b[rng.Next(b.Length)] += (float)(rng.NextDouble() - 0.5);
        var (bytesA, storedA) = Encode(a, type);
        var (bytesB, storedB) = Encode(b, type);

        var report = ModelDiffer.Compare(ModelWith(Raw("w", type, [5000], bytesA)), ModelWith(Raw("w", type, [5000], bytesB)));

        var expectedDiffering = Enumerable.Range(0, a.Length).Count(i => BitConverter.DoubleToInt64Bits(storedA[i]) != BitConverter.DoubleToInt64Bits(storedB[i]));
        var expectedMax = Enumerable.Range(0, a.Length).Max(i => Math.Abs(storedB[i] - storedA[i]));
        var expectedFirst = Enumerable.Range(0, a.Length).First(i => storedA[i] != storedB[i]);
        var v = Assert.Single(report.Initializers.Changed).Values!;
        Assert.Equal(5000, v.Elements);
        Assert.Equal(expectedDiffering, v.Differing);
        Assert.Equal(expectedMax, v.MaxAbsDiff!.Value, 0.0); // both are exact differences of the same stored values
        Assert.Equal(expectedFirst, v.FirstDifference);
        Assert.False(report.Identical);
    }

    [Fact]
    public void Typed_fields_and_raw_data_holding_the_same_values_are_equal()
    {
        var values = new[] { 1.5f, -2f, 0f, 3.25f };
        var typed = new TensorProto { Name = "w", DataType = Float };
        typed.Dims.Add(4);
        typed.FloatData.AddRange(values);
        var raw = Raw("w", Float, [4], Encode(values, Float).Bytes);
        var report = ModelDiffer.Compare(ModelWith(typed), ModelWith(raw));
        Assert.Empty(report.Initializers.Changed);
        Assert.Equal(1, report.Initializers.Unchanged);
    }

    /// <summary>Writes <paramref name="values"/> to <paramref name="dataFile"/> and returns an external tensor pointing at it.</summary>
    private static TensorProto External(string name, long[] dims, string dataFile, float[] values, long offset = 0)
    {
        using (var f = new FileStream(dataFile, FileMode.OpenOrCreate, FileAccess.Write))
        {
            f.Position = offset;
            f.Write(Encode(values, Float).Bytes);
        }
        var t = new TensorProto { Name = name, DataType = Float, DataLocation = TensorProto.Types.DataLocation.External };
        t.Dims.AddRange(dims);
        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = Path.GetFileName(dataFile) });
        t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString() });
        t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = (values.Length * 4L).ToString() });
        return t;
    }

    private static OnnxModel Saved(string path, params TensorProto[] tensors)
    {
        var m = ModelWith(tensors);
        File.WriteAllBytes(path, m.Proto.ToByteArray());
        return OnnxModel.Load(path);
    }

    private const int Rows = 600, Cols = 1000; // 2.4 MB: several 1 MiB chunks, rows 261/262 straddle a chunk boundary

    private static float[] Matrix(int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, Rows * Cols).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    [Fact]
    public void Streamed_external_weights_report_scaled_rows_across_chunk_boundaries()
    {
        var a = Matrix(7);
        var b = (float[])a.Clone();
        var factors = new Dictionary<int, float> { [0] = 1.5f, [261] = 0.25f, [262] = -2f, [599] = 1.001f };
        foreach (var (row, f) in factors)
            for (var j = 0; j < Cols; j++) b[row * Cols + j] = a[row * Cols + j] * f;
        Directory.CreateDirectory(Path.Combine(_dir, "a"));
        Directory.CreateDirectory(Path.Combine(_dir, "b"));
        var ma = Saved(Path.Combine(_dir, "a", "model.onnx"), External("w", [Rows, Cols], Path.Combine(_dir, "a", "model.onnx.data"), a));
        var mb = Saved(Path.Combine(_dir, "b", "model.onnx"), External("w", [Rows, Cols], Path.Combine(_dir, "b", "model.onnx.data"), b));

        var v = Assert.Single(ModelDiffer.Compare(ma, mb).Initializers.Changed).Values!;

        Assert.Equal(Enumerable.Range(0, a.Length).Count(i => a[i] != b[i]), v.Differing);
        Assert.Equal(Enumerable.Range(0, a.Length).Max(i => Math.Abs((double)b[i] - a[i])), v.MaxAbsDiff!.Value, 0.0);
        Assert.NotNull(v.RowsScaled);
        Assert.Equal(factors.Keys.Order().Select(r => (long)r), v.RowsScaled.Select(r => r.Index));
        foreach (var r in v.RowsScaled)
            Assert.True(Math.Abs(r.Factor / factors[(int)r.Index] - 1) <= 1e-6, $"row {r.Index}: {r.Factor}"); // float32 rounding of a·f
        Assert.Null(v.ColumnsScaled);
    }

    [Fact]
    public void Scaled_columns_are_found_and_a_non_scaling_change_is_not_called_one()
    {
        var a = Matrix(8);
        var b = (float[])a.Clone();
        foreach (var (col, f) in new[] { (0, 2f), (500, 0.5f), (999, 1.25f) })
            for (var i = 0; i < Rows; i++) b[i * Cols + col] = a[i * Cols + col] * f;
        var shape = new long[] { Rows, Cols };
        var scaled = Assert.Single(ModelDiffer.Compare(ModelWith(Raw("w", Float, shape, Encode(a, Float).Bytes)),
            ModelWith(Raw("w", Float, shape, Encode(b, Float).Bytes))).Initializers.Changed).Values!;
        Assert.Equal(new long[] { 0, 500, 999 }, scaled.ColumnsScaled!.Select(c => c.Index));
        Assert.Equal(new[] { 2.0, 0.5, 1.25 }, scaled.ColumnsScaled!.Select(c => Math.Round(c.Factor, 6)));
        Assert.Null(scaled.RowsScaled);

        b[3 * Cols + 500] += 0.01f; // one element off its column's factor
        var broken = Assert.Single(ModelDiffer.Compare(ModelWith(Raw("w", Float, shape, Encode(a, Float).Bytes)),
            ModelWith(Raw("w", Float, shape, Encode(b, Float).Bytes))).Initializers.Changed).Values!;
        Assert.Null(broken.ColumnsScaled);
        Assert.Null(broken.RowsScaled);
    }

    [Fact]
    public void Same_external_range_is_not_read_and_a_copy_is_compared_by_content()
    {
        var values = Matrix(9);
        var data = Path.Combine(_dir, "weights.bin");
        var tensor = External("w", [Rows, Cols], data, values, offset: 64);
        var ma = Saved(Path.Combine(_dir, "a.onnx"), tensor);
        var mb = Saved(Path.Combine(_dir, "b.onnx"), tensor);
        var shared = ModelDiffer.Compare(ma, mb);
        Assert.True(shared.Identical);
        Assert.Equal(1, shared.Initializers.SharedExternal);

        // A hard link is the same file (same inode) under another name and folder.
        Directory.CreateDirectory(Path.Combine(_dir, "linked"));
        var link = Path.Combine(_dir, "linked", "weights.bin");
        if (OperatingSystem.IsLinux() && Link(data, link) == 0)
        {
            var ml = Saved(Path.Combine(_dir, "linked", "model.onnx"), tensor);
            Assert.Equal(1, ModelDiffer.Compare(ma, ml).Initializers.SharedExternal);
        }

        // A byte-for-byte copy is a different file: compared in chunks, still equal.
        Directory.CreateDirectory(Path.Combine(_dir, "copy"));
        File.Copy(data, Path.Combine(_dir, "copy", "weights.bin"));
        var mc = Saved(Path.Combine(_dir, "copy", "model.onnx"), tensor);
        var copied = ModelDiffer.Compare(ma, mc);
        Assert.True(copied.Identical);
        Assert.Equal(0, copied.Initializers.SharedExternal);
        Assert.Equal(1, copied.Initializers.Unchanged);
    }

    [Fact]
    public void External_data_outside_the_model_folder_or_past_the_file_end_is_refused()
    {
        var inside = Path.Combine(_dir, "m");
        Directory.CreateDirectory(inside);
        var t = External("w", [4], Path.Combine(_dir, "outside.bin"), [1, 2, 3, 4]);
        t.ExternalData[0].Value = "../outside.bin";
        File.WriteAllBytes(Path.Combine(inside, "model.onnx"), ModelWith(t).Proto.ToByteArray());
        var plain = Path.Combine(_dir, "plain.onnx");
        File.WriteAllBytes(plain, ModelWith(Raw("w", Float, [4], Encode([1, 2, 3, 5], Float).Bytes)).Proto.ToByteArray());
        var e = Assert.Throws<InvalidModelException>(() => ModelDiffer.Compare(plain, Path.Combine(inside, "model.onnx")));
        Assert.Contains("'..'", e.Message);

        var shortFile = External("w", [4], Path.Combine(inside, "short.bin"), [1, 2]);
        shortFile.ExternalData[2].Value = "16";
        File.WriteAllBytes(Path.Combine(inside, "short.onnx"), ModelWith(shortFile).Proto.ToByteArray());
        e = Assert.Throws<InvalidModelException>(() => ModelDiffer.Compare(plain, Path.Combine(inside, "short.onnx")));
        Assert.Contains("has only 8 bytes", e.Message);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int Link(string existing, string created);
}
