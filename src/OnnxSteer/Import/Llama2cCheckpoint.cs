namespace OnnxSteer.Import;

/// <summary>
/// A llama2.c checkpoint in the legacy format: a header of 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
/// vocab_size, seq_len; a negative vocab_size means the classifier is stored separately) followed by fp32 arrays in
/// the order of run.c's <c>memory_map_weights</c>. Arrays keep llama2.c's layout: matrices are [out][in].
/// </summary>
internal sealed class Llama2cCheckpoint : ILlamaWeights
{
    private const int HeaderInts = 7;

    /// <inheritdoc />
    public LlamaConfig Config { get; }

    /// <summary>Whether the classifier is the token embedding (positive vocab_size in the header).</summary>
    public bool SharedClassifier { get; }

    /// <summary>[vocab][dim].</summary>
    public float[] TokenEmbedding { get; }
    /// <summary>[layer][dim].</summary>
    public float[] RmsAttention { get; }
    /// <summary>[layer][heads*hs][dim].</summary>
    public float[] Wq { get; }
    /// <summary>[layer][kvHeads*hs][dim].</summary>
    public float[] Wk { get; }
    /// <summary>[layer][kvHeads*hs][dim].</summary>
    public float[] Wv { get; }
    /// <summary>[layer][dim][heads*hs].</summary>
    public float[] Wo { get; }
    /// <summary>[layer][dim].</summary>
    public float[] RmsFeedForward { get; }
    /// <summary>Gate, [layer][hidden][dim].</summary>
    public float[] W1 { get; }
    /// <summary>Down, [layer][dim][hidden].</summary>
    public float[] W2 { get; }
    /// <summary>Up, [layer][hidden][dim].</summary>
    public float[] W3 { get; }
    /// <summary>[dim].</summary>
    public float[] RmsFinal { get; }
    /// <summary>Classifier [vocab][dim]; the embedding array itself when shared.</summary>
    public float[] Classifier { get; }

    private Llama2cCheckpoint(LlamaConfig config, bool shared, Func<long, float[]> next, int headSize)
    {
        Config = config;
        SharedClassifier = shared;
        int d = config.Dim, h = config.HiddenDim, l = config.Layers, kv = config.KvDim, v = config.VocabSize;
        TokenEmbedding = next((long)v * d);
        RmsAttention = next((long)l * d);
        Wq = next((long)l * d * d);
        Wk = next((long)l * d * kv);
        Wv = next((long)l * d * kv);
        Wo = next((long)l * d * d);
        RmsFeedForward = next((long)l * d);
        W1 = next((long)l * h * d);
        W2 = next((long)l * d * h);
        W3 = next((long)l * h * d);
        RmsFinal = next(d);
        next((long)config.MaxSequenceLength * headSize / 2); // legacy freq_cis_real, unused: RoPE is recomputed
        next((long)config.MaxSequenceLength * headSize / 2); // legacy freq_cis_imag
        Classifier = shared ? TokenEmbedding : next((long)v * d);
    }

    /// <summary>Reads a checkpoint file; throws <see cref="InvalidModelException"/> naming the file when it is malformed.</summary>
    public static Llama2cCheckpoint Load(string path)
    {
        if (!File.Exists(path)) throw new InvalidModelException($"{path}: no such checkpoint file");
        long length = new FileInfo(path).Length;
        if (length > Array.MaxLength)
            throw new InvalidModelException($"{path}: {length:N0} bytes; llama2.c checkpoints over 2 GB are not supported (the reader holds the file in memory)");
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses checkpoint bytes; <paramref name="source"/> names them in error messages.</summary>
    public static Llama2cCheckpoint Parse(byte[] bytes, string source)
    {
        var path = source;
        if (bytes.Length < HeaderInts * 4) throw new InvalidModelException($"{path}: too short for a llama2.c header ({bytes.Length} bytes)");
        var header = new int[HeaderInts];
        Buffer.BlockCopy(bytes, 0, header, 0, HeaderInts * 4);
        var shared = header[5] > 0;
        var config = new LlamaConfig(header[0], header[1], header[2], header[3], header[4], Math.Abs(header[5]), header[6]);
        try { config.Validate(); }
        catch (ArgumentException e) { throw new InvalidModelException($"{path}: not a llama2.c checkpoint header ({e.Message})", e); }

        long expected = ExpectedFloats(config, shared);
        long actual = (bytes.Length - HeaderInts * 4L) / 4;
        if (actual != expected)
            throw new InvalidModelException($"{path}: llama2.c checkpoint holds {actual} floats after the header but {config} needs {expected}");

        long offset = HeaderInts * 4L;
        float[] Next(long count)
        {
            var array = new float[count];
            Buffer.BlockCopy(bytes, (int)offset, array, 0, checked((int)(count * 4)));
            offset += count * 4;
            return array;
        }
        return new Llama2cCheckpoint(config, shared, Next, config.HeadSize);
    }

    /// <summary>
    /// Serialises any weights as a llama2.c checkpoint, the classifier always as its own array (negative vocab_size in
    /// the header). Holds the whole model in memory, so it is meant for small models (the reference pass on synthetic
    /// models in tests).
    /// </summary>
    public static byte[] ToLlama2cBytes(ILlamaWeights weights)
    {
        using var memory = new MemoryStream();
        Write(weights, memory);
        return memory.ToArray();
    }

    /// <summary>As <see cref="ToLlama2cBytes"/>, streamed to <paramref name="output"/> one matrix at a time (large models).</summary>
    public static void Write(ILlamaWeights weights, Stream output)
    {
        var c = weights.Config;
        using var writer = new BinaryWriter(output, System.Text.Encoding.UTF8, leaveOpen: true);
        foreach (var v in new[] { c.Dim, c.HiddenDim, c.Layers, c.Heads, c.KvHeads, -c.VocabSize, c.MaxSequenceLength }) writer.Write(v);
        void Matrix(LlamaTensor t, int layer, bool transpose)
        {
            var (rows, cols) = LlamaTensorShapes.Of(t, c);
            var m = new float[rows * cols];
            for (int r = 0; r < rows; r++) weights.ReadRow(t, layer, r, 0, m.AsSpan(r * cols, cols));
            if (!transpose) { foreach (var v in m) writer.Write(v); return; }
            for (int col = 0; col < cols; col++) for (int r = 0; r < rows; r++) writer.Write(m[r * cols + col]);
        }
        void PerLayer(LlamaTensor t, bool transpose) { for (int l = 0; l < c.Layers; l++) Matrix(t, l, transpose); }
        Matrix(LlamaTensor.Embedding, 0, transpose: false);
        PerLayer(LlamaTensor.AttentionNorm, false);
        PerLayer(LlamaTensor.Query, true);
        PerLayer(LlamaTensor.Key, true);
        PerLayer(LlamaTensor.Value, true);
        PerLayer(LlamaTensor.Output, true);
        PerLayer(LlamaTensor.FeedForwardNorm, false);
        PerLayer(LlamaTensor.Gate, true);
        PerLayer(LlamaTensor.Down, true);
        PerLayer(LlamaTensor.Up, true);
        Matrix(LlamaTensor.FinalNorm, 0, false);
        for (long i = 0; i < (long)c.MaxSequenceLength * c.HeadSize; i++) writer.Write(0f); // legacy freq_cis, unused
        Matrix(LlamaTensor.LmHead, 0, transpose: true);
        writer.Flush();
    }

    private static long ExpectedFloats(LlamaConfig c, bool shared)
    {
        long d = c.Dim, h = c.HiddenDim, l = c.Layers, kv = c.KvDim, v = c.VocabSize;
        return v * d + l * d + l * d * d + 2 * l * d * kv + l * d * d + l * d + 3 * l * h * d + d
             + (long)c.MaxSequenceLength * c.HeadSize + (shared ? 0 : v * d);
    }

    /// <inheritdoc />
    public void ReadRow(LlamaTensor tensor, int layer, int row, int colStart, Span<float> dest)
    {
        int d = Config.Dim, h = Config.HiddenDim, kv = Config.KvDim;
        switch (tensor)
        {
            case LlamaTensor.Embedding: Copy(TokenEmbedding, (long)row * d + colStart, dest); break;
            case LlamaTensor.AttentionNorm: Copy(RmsAttention, (long)layer * d + colStart, dest); break;
            case LlamaTensor.FeedForwardNorm: Copy(RmsFeedForward, (long)layer * d + colStart, dest); break;
            case LlamaTensor.FinalNorm: Copy(RmsFinal, colStart, dest); break;
            // llama2.c matrices are [out][in]; ONNX MatMul wants [in][out], so a row here is a column there.
            case LlamaTensor.Query: Gather(Wq, (long)layer * d * d, d, row, colStart, dest); break;
            case LlamaTensor.Key: Gather(Wk, (long)layer * kv * d, d, row, colStart, dest); break;
            case LlamaTensor.Value: Gather(Wv, (long)layer * kv * d, d, row, colStart, dest); break;
            case LlamaTensor.Output: Gather(Wo, (long)layer * d * d, d, row, colStart, dest); break;
            case LlamaTensor.Gate: Gather(W1, (long)layer * h * d, d, row, colStart, dest); break;
            case LlamaTensor.Up: Gather(W3, (long)layer * h * d, d, row, colStart, dest); break;
            case LlamaTensor.Down: Gather(W2, (long)layer * d * h, h, row, colStart, dest); break;
            case LlamaTensor.LmHead: Gather(Classifier, 0, d, row, colStart, dest); break;
            default: throw new ArgumentOutOfRangeException(nameof(tensor));
        }
    }

    private static void Copy(float[] source, long start, Span<float> dest) => source.AsSpan((int)start, dest.Length).CopyTo(dest);

    /// <summary>dest[j] = W[colStart + j][row] for a row-major [out][in] matrix W with <paramref name="inWidth"/> columns.</summary>
    private static void Gather(float[] source, long baseOffset, int inWidth, int row, int colStart, Span<float> dest)
    {
        for (int j = 0; j < dest.Length; j++) dest[j] = source[baseOffset + (long)(colStart + j) * inWidth + row];
    }
}
