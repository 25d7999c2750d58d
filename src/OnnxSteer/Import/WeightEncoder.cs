using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Onnx;

namespace OnnxSteer.Import;

/// <summary>
/// Streams one weight tensor from an <see cref="ILlamaWeights"/> into a <see cref="WeightSink"/> as fp32,
/// fp16 or 4-bit blocks, reading it a piece at a time so memory stays bounded whatever the tensor's size.
/// </summary>
internal static class WeightEncoder
{
    /// <summary>Quantisation block length along K.</summary>
    public const int BlockSize = 32;

    /// <summary>Float elements read per chunk (16 MB), the bound on an encoder's working memory.</summary>
    private const int ChunkFloats = 4 << 20;

    /// <summary>Writes a tensor as fp32 or fp16 in its ONNX orientation ([rows, cols], or [cols] for a vector).</summary>
    public static TensorProto Float(WeightSink sink, string name, ILlamaWeights weights, LlamaTensor tensor, int layer, bool fp16)
    {
        var (rows, cols) = LlamaTensorShapes.Of(tensor, weights.Config);
        long[] dims = rows == 1 && tensor != LlamaTensor.Embedding ? [cols] : [rows, cols];
        int elementSize = fp16 ? 2 : 4;
        var type = fp16 ? TensorProto.Types.DataType.Float16 : TensorProto.Types.DataType.Float;
        return sink.Add(name, type, dims, (long)rows * cols * elementSize, FloatRows(weights, tensor, layer, rows, cols, fp16));
    }

    private static IEnumerable<ReadOnlyMemory<byte>> FloatRows(ILlamaWeights weights, LlamaTensor tensor, int layer, int rows, int cols, bool fp16)
    {
        var row = new float[cols];
        var bytes = new byte[(long)cols * (fp16 ? 2 : 4)];
        for (int r = 0; r < rows; r++)
        {
            weights.ReadRow(tensor, layer, r, 0, row);
            if (fp16) TensorPrimitives.ConvertToHalf(row, MemoryMarshal.Cast<byte, Half>(bytes.AsSpan()));
            else MemoryMarshal.AsBytes(row.AsSpan()).CopyTo(bytes);
            yield return bytes;
        }
    }

    /// <summary>Writes a small in-memory float array as fp32 or fp16.</summary>
    public static TensorProto Constant(WeightSink sink, string name, float[] values, long[] dims, bool fp16)
    {
        if (!fp16) return sink.Add(name, TensorProto.Types.DataType.Float, dims, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        var half = new Half[values.Length];
        TensorPrimitives.ConvertToHalf(values, half);
        return sink.Add(name, TensorProto.Types.DataType.Float16, dims, MemoryMarshal.AsBytes(half.AsSpan()).ToArray());
    }

    /// <summary>
    /// Writes a [K, N] projection in com.microsoft MatMulNBits layout: B is uint8 [N, ceil(K/32), 16] (two 4-bit values
    /// a byte, low nibble first, K padded with zeros), scales are fp32 [N * ceil(K/32)], no zero points (implicit 8).
    /// Returns the B and scales protos.
    /// </summary>
    public static (TensorProto B, TensorProto Scales) MatMulNBits(WeightSink sink, string bName, string scalesName,
        ILlamaWeights weights, LlamaTensor tensor, int layer)
    {
        var (k, n) = LlamaTensorShapes.Of(tensor, weights.Config);
        int blocks = (k + BlockSize - 1) / BlockSize;
        const int blob = BlockSize / 2;
        var scales = new float[(long)n * blocks];
        // Columns are quantised along K, so read whole columns a chunk at a time (at most ChunkFloats values).
        int chunkCols = Math.Max(1, Math.Min(n, ChunkFloats / k));
        var bProto = sink.Add(bName, TensorProto.Types.DataType.Uint8, [n, blocks, blob], (long)n * blocks * blob,
            NBitsColumns(weights, tensor, layer, k, n, blocks, chunkCols, scales));
        var scalesProto = sink.Add(scalesName, TensorProto.Types.DataType.Float, [(long)n * blocks], MemoryMarshal.AsBytes(scales.AsSpan()).ToArray());
        return (bProto, scalesProto);
    }

    /// <summary>MatMulNBits B bytes a chunk of columns at a time; fills <paramref name="scales"/> as it goes.</summary>
    private static IEnumerable<ReadOnlyMemory<byte>> NBitsColumns(ILlamaWeights weights, LlamaTensor tensor, int layer,
        int k, int n, int blocks, int chunkCols, float[] scales)
    {
        const int blob = BlockSize / 2;
        var chunk = new float[(long)k * chunkCols];
        var column = new float[blocks * BlockSize];
        var packed = new byte[(long)chunkCols * blocks * blob];
        for (int n0 = 0; n0 < n; n0 += chunkCols)
        {
            int width = Math.Min(chunkCols, n - n0);
            for (int r = 0; r < k; r++) weights.ReadRow(tensor, layer, r, n0, chunk.AsSpan(r * width, width));
            for (int c = 0; c < width; c++)
            {
                Array.Clear(column);
                for (int r = 0; r < k; r++) column[r] = chunk[(long)r * width + c];
                for (int b = 0; b < blocks; b++)
                {
                    var block = column.AsSpan(b * BlockSize, BlockSize);
                    float scale = SymmetricScale(block);
                    scales[(long)(n0 + c) * blocks + b] = scale;
                    var dest = packed.AsSpan((c * blocks + b) * blob, blob);
                    for (int i = 0; i < blob; i++)
                        dest[i] = (byte)((Quantize(block[2 * i], scale) + 8) | ((Quantize(block[2 * i + 1], scale) + 8) << 4));
                }
            }
            yield return packed.AsMemory(0, width * blocks * blob);
        }
    }

    /// <summary>
    /// Writes a [K, N] projection for a default-domain blocked DequantizeLinear (opset 21): INT4 [K, N] row-major,
    /// two values a byte, low nibble first; scales fp32 [ceil(K/32), N] along axis 0. Returns the data and scales protos.
    /// </summary>
    public static (TensorProto Data, TensorProto Scales) BlockedInt4(WeightSink sink, string dataName, string scalesName,
        ILlamaWeights weights, LlamaTensor tensor, int layer)
    {
        var (k, n) = LlamaTensorShapes.Of(tensor, weights.Config);
        int blocks = (k + BlockSize - 1) / BlockSize;
        var scales = new float[(long)blocks * n];
        long elements = (long)k * n;
        var dataProto = sink.Add(dataName, TensorProto.Types.DataType.Int4, [k, n], (elements + 1) / 2,
            Int4RowBlocks(weights, tensor, layer, k, n, blocks, scales));
        var scalesProto = sink.Add(scalesName, TensorProto.Types.DataType.Float, [blocks, n], MemoryMarshal.AsBytes(scales.AsSpan()).ToArray());
        return (dataProto, scalesProto);
    }

    /// <summary>Packed INT4 bytes 32 rows at a time; fills <paramref name="scales"/> as it goes.</summary>
    private static IEnumerable<ReadOnlyMemory<byte>> Int4RowBlocks(ILlamaWeights weights, LlamaTensor tensor, int layer,
        int k, int n, int blocks, float[] scales)
    {
        var rows = new float[(long)BlockSize * n];
        var column = new float[BlockSize];
        var quantized = new sbyte[(long)BlockSize * n];
        var packed = new byte[((long)BlockSize * n + 1) / 2];
        for (int b = 0; b < blocks; b++)
        {
            int r0 = b * BlockSize, height = Math.Min(BlockSize, k - r0);
            for (int r = 0; r < height; r++) weights.ReadRow(tensor, layer, r0 + r, 0, rows.AsSpan(r * n, n));
            for (int c = 0; c < n; c++)
            {
                for (int r = 0; r < height; r++) column[r] = rows[(long)r * n + c];
                float scale = SymmetricScale(column.AsSpan(0, height));
                scales[(long)b * n + c] = scale;
                for (int r = 0; r < height; r++) quantized[(long)r * n + c] = (sbyte)Quantize(column[r], scale);
            }
            // Each block but the last holds 32*N values (even), so blocks never share a byte.
            long count = (long)height * n;
            Array.Clear(packed);
            for (long e = 0; e < count; e++)
                packed[e / 2] |= (byte)((quantized[e] & 0x0F) << (int)(4 * (e & 1)));
            yield return packed.AsMemory(0, (int)((count + 1) / 2));
        }
    }

    /// <summary>Scale mapping the block's largest magnitude to 7 (symmetric, so the int4 value -8 is unused).</summary>
    public static float SymmetricScale(ReadOnlySpan<float> block)
    {
        float max = TensorPrimitives.MaxMagnitude(block);
        max = MathF.Abs(max);
        return max == 0f ? 1f : max / 7f;
    }

    /// <summary>round(v / scale) clamped to the signed 4-bit range.</summary>
    public static int Quantize(float value, float scale) => Math.Clamp((int)MathF.Round(value / scale), -8, 7);
}
