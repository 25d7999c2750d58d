using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// onnxruntime's MatMulNBitsQuantizer (onnxruntime/python/tools/quantization/matmul_nbits_quantizer.py), as the
/// onnxruntime-genai builder runs it after building the float graph (<c>to_int4</c>: int4 DEFAULT, symmetric, block
/// 32, accuracy_level 4 on CPU; <c>k_quant_mixed</c>: asymmetric k-quant, some projections in 8 bits) and as
/// transformers.js's quantize script runs it for q4 / q4f16 (symmetric, block 32, no accuracy level). Every MatMul
/// whose B is a constant 2-D float initializer, and that <see cref="Settings.BitsOf"/> gives a width for, becomes
/// <c>com.microsoft MatMulNBits '{node}_Q{bits}'(A, '{B}_Q{bits}', '{B}_scales'[, '{B}_zero_points'])</c> writing the
/// MatMul's own output, attributes K, N, bits, block_size (and accuracy_level when set). B is uint8
/// [N, blocks, block·bits/8] (K padded to whole blocks, low nibble first), scales [N·blocks] in the weight's float type,
/// zero points uint8 (two 4-bit values a byte, per column) only when asymmetric.
/// </summary>
internal static class NBitsQuantizer
{
    /// <param name="BitsOf">4 or 8 for a MatMul node name, null to leave it a MatMul.</param>
    /// <param name="Symmetric">Symmetric (no zero points, the MLAS default) or asymmetric (zero points).</param>
    /// <param name="AccuracyLevel">0 = attribute absent.</param>
    public sealed record Settings(Func<string, int?> BitsOf, bool Symmetric, int AccuracyLevel = 0, int BlockSize = 32);

    public static ModelProto Quantize(OnnxModel model, Settings settings)
    {
        var proto = model.Proto.Clone();
        var graph = proto.Graph;
        var inits = graph.Initializer.ToDictionary(t => t.Name);
        var nodes = new List<NodeProto>();
        foreach (var node in graph.Node)
        {
            if (node.OpType != "MatMul" || !inits.TryGetValue(node.Input[1], out var w) || w.Dims.Count != 2
                || !ElementEncoding.IsSupported(w.DataType) || settings.BitsOf(node.Name) is not { } bits)
            {
                nodes.Add(node);
                continue;
            }
            var (k, n) = ((int)w.Dims[0], (int)w.Dims[1]);
            var blocks = (k + settings.BlockSize - 1) / settings.BlockSize;
            var (packed, scales, zeros) = Blocks(ElementEncoding.Decode(model.ReadBytes(w), w.DataType), k, n, bits, settings.Symmetric, settings.BlockSize);
            graph.Initializer.Remove(w);
            graph.Initializer.Add(Raw($"{w.Name}_Q{bits}", TensorProto.Types.DataType.Uint8, packed, n, blocks, settings.BlockSize * bits / 8));
            var scaleTensor = new TensorProto { Name = w.Name + "_scales", DataType = w.DataType, RawData = ByteString.CopyFrom(ElementEncoding.Encode(scales, w.DataType)) };
            scaleTensor.Dims.Add(scales.Length);
            graph.Initializer.Add(scaleTensor);
            var q = new NodeProto { OpType = "MatMulNBits", Domain = "com.microsoft", Name = $"{node.Name}_Q{bits}", Input = { node.Input[0], $"{w.Name}_Q{bits}", w.Name + "_scales" } };
            if (zeros is not null)
            {
                graph.Initializer.Add(Raw(w.Name + "_zero_points", TensorProto.Types.DataType.Uint8, zeros, zeros.Length));
                q.Input.Add(w.Name + "_zero_points");
            }
            q.Output.Add(node.Output[0]);
            q.Attribute.Add([ExportEdits.Int("K", k), ExportEdits.Int("N", n), ExportEdits.Int("bits", bits), ExportEdits.Int("block_size", settings.BlockSize)]);
            if (settings.AccuracyLevel > 0) q.Attribute.Add(ExportEdits.Int("accuracy_level", settings.AccuracyLevel));
            nodes.Add(q);
        }
        graph.Node.Clear();
        graph.Node.Add(nodes);
        if (proto.OpsetImport.All(o => o.Domain != "com.microsoft")) proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        ExportEdits.EmbedExternalData(graph, model);
        return proto;
    }

    /// <summary>
    /// Column-wise block quantisation of a row-major [K, N] weight. Symmetric: the value of largest magnitude maps to
    /// −2^(bits−1) (scale = that value / −2^(bits−1)), q = clip(round(x / scale)) stored offset by 2^(bits−1).
    /// Asymmetric: range [min(x, 0), max(x, 0)] over 2^bits − 1 steps, zero point round(−min / scale).
    /// </summary>
    private static (byte[] Packed, float[] Scales, byte[]? Zeros) Blocks(float[] w, int k, int n, int bits, bool symmetric, int block)
    {
        var blocks = (k + block - 1) / block;
        var levels = (1 << bits) - 1;
        var blob = block * bits / 8;
        var packed = new byte[n * blocks * blob];
        var scales = new float[n * blocks];
        var zeroBytes = bits == 8 ? blocks : (blocks + 1) / 2;
        var zeros = symmetric ? null : new byte[n * zeroBytes];
        var values = new int[block];
        for (var c = 0; c < n; c++)
            for (var b = 0; b < blocks; b++)
            {
                var rows = Enumerable.Range(b * block, Math.Min(block, k - b * block)).Select(r => w[r * n + c]).ToArray();
                float scale;
                int zero;
                if (symmetric)
                {
                    var extreme = rows.MaxBy(Math.Abs);
                    scale = extreme / -(1 << (bits - 1));
                    zero = 1 << (bits - 1);
                }
                else
                {
                    var (lo, hi) = (Math.Min(rows.Min(), 0f), Math.Max(rows.Max(), 0f));
                    scale = (hi - lo) / levels;
                    zero = scale == 0 ? 1 << (bits - 1) : (int)Math.Clamp(MathF.Round(-lo / scale, MidpointRounding.ToEven), 0, levels);
                }
                scales[c * blocks + b] = scale;
                Array.Clear(values);
                for (var i = 0; i < rows.Length; i++)
                    values[i] = scale == 0 ? zero : (int)Math.Clamp(MathF.Round(rows[i] / scale, MidpointRounding.ToEven) + zero, 0, levels);
                for (var i = rows.Length; i < block; i++) values[i] = zero;
                var at = (c * blocks + b) * blob;
                for (var i = 0; i < blob; i++)
                    packed[at + i] = bits == 8 ? (byte)values[i] : (byte)(values[2 * i] | (values[2 * i + 1] << 4));
                if (zeros is not null)
                {
                    if (bits == 8) zeros[c * zeroBytes + b] = (byte)zero;
                    else zeros[c * zeroBytes + b / 2] |= (byte)(zero << (4 * (b % 2)));
                }
            }
        return (packed, scales, zeros);
    }

    private static TensorProto Raw(string name, TensorProto.Types.DataType type, byte[] bytes, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.Add(dims);
        return t;
    }
}
