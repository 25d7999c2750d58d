using OnnxSteer.Import;
using OnnxSteer.Sites;

namespace OnnxSteer.Tests.Reference;

/// <summary>Called by <see cref="LlamaReference.Forward(IReadOnlyList{int}, ActivationHook)"/> with one site's activation
/// at one position; may change it in place.</summary>
internal delegate void ActivationHook(SiteKind kind, int layer, Span<float> activation);

/// <summary>
/// A plain C# forward pass of a llama2.c checkpoint, written after llama2.c's run.c and independent of ONNX and of the
/// exporters: it reads the checkpoint's own [out][in] arrays. RMSNorm (eps 1e-5), RoPE rotating adjacent pairs,
/// grouped-query attention (query head h reads KV head h / (heads / kvHeads)), SwiGLU, and the (shared) classifier,
/// all in fp32. Used by tests as the independent computation exported models are checked against.
/// </summary>
internal sealed class LlamaReference(Llama2cCheckpoint checkpoint)
{
    private readonly LlamaConfig _c = checkpoint.Config;

    /// <summary>The architecture.</summary>
    public LlamaConfig Config => _c;

    /// <summary>Loads a llama2.c checkpoint file.</summary>
    public static LlamaReference Load(string checkpointPath) => new(Llama2cCheckpoint.Load(checkpointPath));

    /// <summary>Runs <paramref name="tokens"/> from position 0 and records logits and per-layer activations at every position.</summary>
    public ReferenceRun Forward(IReadOnlyList<int> tokens) => Forward(tokens, null, null);

    /// <summary>
    /// Same, with <paramref name="layerOutputOffsets"/>[l] added to layer l's output (the hidden state after its MLP
    /// residual add) at every position: where llama.cpp and repeng add a control vector.
    /// </summary>
    public ReferenceRun Forward(IReadOnlyList<int> tokens, IReadOnlyDictionary<int, float[]>? layerOutputOffsets) =>
        Forward(tokens, layerOutputOffsets, null);

    /// <summary>
    /// Same, with <paramref name="hook"/> called at every steering site (attn: o_proj's input, mlp: down_proj's input,
    /// mlp-out: down_proj's output) of every layer at every position, before the value is used; it may change the
    /// activation in place, e.g. to apply steering by hand. The run records the activations as they were before the hook.
    /// </summary>
    public ReferenceRun Forward(IReadOnlyList<int> tokens, ActivationHook hook) => Forward(tokens, null, hook);

    private ReferenceRun Forward(IReadOnlyList<int> tokens, IReadOnlyDictionary<int, float[]>? layerOutputOffsets, ActivationHook? hook)
    {
        if (tokens.Count == 0) throw new ArgumentException("no tokens", nameof(tokens));
        if (tokens.Count > _c.MaxSequenceLength) throw new ArgumentException($"{tokens.Count} tokens exceed the context of {_c.MaxSequenceLength}");
        var state = new State(_c);
        var run = new ReferenceRun(_c.Layers, tokens.Count);
        for (int pos = 0; pos < tokens.Count; pos++) Step(state, tokens[pos], pos, run, layerOutputOffsets, hook);
        return run;
    }

    /// <summary>Greedy decoding: the prompt followed by <paramref name="newTokens"/> argmax tokens (stops early at <paramref name="stopToken"/>).</summary>
    public IReadOnlyList<int> Greedy(IReadOnlyList<int> prompt, int newTokens, int? stopToken = null)
    {
        var ids = new List<int>(prompt);
        var state = new State(_c);
        float[] logits = [];
        for (int pos = 0; pos < ids.Count; pos++) logits = Step(state, ids[pos], pos, null);
        for (int i = 0; i < newTokens && ids.Count < _c.MaxSequenceLength; i++)
        {
            int next = ArgMax(logits);
            ids.Add(next);
            if (next == stopToken) break;
            logits = Step(state, next, ids.Count - 1, null);
        }
        return ids;
    }

    /// <summary>Index of the largest value (the first on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    private sealed class State(LlamaConfig c)
    {
        public readonly float[] X = new float[c.Dim], Xb = new float[c.Dim], Xb2 = new float[c.Dim];
        public readonly float[] Hb = new float[c.HiddenDim], Hb2 = new float[c.HiddenDim];
        public readonly float[] Q = new float[c.Dim], K = new float[c.KvDim], V = new float[c.KvDim];
        public readonly float[] Att = new float[c.MaxSequenceLength];
        public readonly float[] KeyCache = new float[(long)c.Layers * c.MaxSequenceLength * c.KvDim];
        public readonly float[] ValueCache = new float[(long)c.Layers * c.MaxSequenceLength * c.KvDim];
    }

    private float[] Step(State s, int token, int pos, ReferenceRun? record, IReadOnlyDictionary<int, float[]>? layerOutputOffsets = null,
        ActivationHook? hook = null)
    {
        int dim = _c.Dim, kvDim = _c.KvDim, hidden = _c.HiddenDim, hs = _c.HeadSize, groupSize = _c.GroupSize;
        var w = checkpoint;
        Array.Copy(w.TokenEmbedding, (long)token * dim, s.X, 0, dim);

        for (int l = 0; l < _c.Layers; l++)
        {
            RmsNorm(s.Xb, s.X, w.RmsAttention.AsSpan(l * dim, dim));
            MatVec(s.Q, s.Xb, w.Wq, (long)l * dim * dim);
            MatVec(s.K, s.Xb, w.Wk, (long)l * kvDim * dim);
            MatVec(s.V, s.Xb, w.Wv, (long)l * kvDim * dim);

            // RoPE: rotate each adjacent pair (i, i+1) of every head by pos * freq(i within the head).
            for (int i = 0; i < dim; i += 2)
            {
                float val = pos * RopeTables.Frequency((i % hs) / 2, hs, _c.RopeTheta);
                float fcr = MathF.Cos(val), fci = MathF.Sin(val);
                Rotate(s.Q, i, fcr, fci);
                if (i < kvDim) Rotate(s.K, i, fcr, fci);
            }

            long cacheBase = (long)l * _c.MaxSequenceLength * kvDim;
            Array.Copy(s.K, 0, s.KeyCache, cacheBase + (long)pos * kvDim, kvDim);
            Array.Copy(s.V, 0, s.ValueCache, cacheBase + (long)pos * kvDim, kvDim);

            float scale = MathF.Sqrt(hs);
            for (int h = 0; h < _c.Heads; h++)
            {
                int kvOffset = (h / groupSize) * hs;
                var q = s.Q.AsSpan(h * hs, hs);
                for (int t = 0; t <= pos; t++)
                {
                    var k = s.KeyCache.AsSpan((int)(cacheBase + (long)t * kvDim + kvOffset), hs);
                    float score = 0f;
                    for (int i = 0; i < hs; i++) score += q[i] * k[i];
                    s.Att[t] = score / scale;
                }
                Softmax(s.Att.AsSpan(0, pos + 1));
                var xb = s.Xb.AsSpan(h * hs, hs);
                xb.Clear();
                for (int t = 0; t <= pos; t++)
                {
                    var v = s.ValueCache.AsSpan((int)(cacheBase + (long)t * kvDim + kvOffset), hs);
                    float a = s.Att[t];
                    for (int i = 0; i < hs; i++) xb[i] += a * v[i];
                }
            }
            record?.Layers[l].OProjInput[pos] = (float[])s.Xb.Clone();
            hook?.Invoke(SiteKind.Attn, l, s.Xb);

            MatVec(s.Xb2, s.Xb, w.Wo, (long)l * dim * dim);
            for (int i = 0; i < dim; i++) s.X[i] += s.Xb2[i];

            RmsNorm(s.Xb, s.X, w.RmsFeedForward.AsSpan(l * dim, dim));
            MatVec(s.Hb, s.Xb, w.W1, (long)l * hidden * dim);
            MatVec(s.Hb2, s.Xb, w.W3, (long)l * hidden * dim);
            for (int i = 0; i < hidden; i++)
            {
                float g = s.Hb[i];
                s.Hb[i] = g * (1f / (1f + MathF.Exp(-g))) * s.Hb2[i];
            }
            record?.Layers[l].DownProjInput[pos] = (float[])s.Hb.Clone();
            hook?.Invoke(SiteKind.Mlp, l, s.Hb);

            MatVec(s.Xb, s.Hb, w.W2, (long)l * dim * hidden);
            record?.Layers[l].DownProjOutput[pos] = (float[])s.Xb.Clone();
            hook?.Invoke(SiteKind.MlpOut, l, s.Xb);
            for (int i = 0; i < dim; i++) s.X[i] += s.Xb[i];
            if (layerOutputOffsets is not null && layerOutputOffsets.TryGetValue(l, out var offset))
                for (int i = 0; i < dim; i++) s.X[i] += offset[i];
        }

        RmsNorm(s.X, s.X, w.RmsFinal);
        var logits = new float[_c.VocabSize];
        MatVec(logits, s.X, w.Classifier, 0);
        record?.Logits[pos] = logits;
        return logits;
    }

    private static void Rotate(float[] vec, int i, float fcr, float fci)
    {
        float v0 = vec[i], v1 = vec[i + 1];
        vec[i] = v0 * fcr - v1 * fci;
        vec[i + 1] = v0 * fci + v1 * fcr;
    }

    private void RmsNorm(Span<float> output, ReadOnlySpan<float> x, ReadOnlySpan<float> weight)
    {
        float ss = 0f;
        for (int i = 0; i < x.Length; i++) ss += x[i] * x[i];
        ss = ss / x.Length + _c.NormEpsilon;
        ss = 1f / MathF.Sqrt(ss);
        for (int i = 0; i < x.Length; i++) output[i] = weight[i] * (ss * x[i]);
    }

    /// <summary>output = W x for W stored [output.Length][x.Length] at <paramref name="offset"/> (llama2.c's matmul).</summary>
    private static void MatVec(Span<float> output, ReadOnlySpan<float> x, float[] w, long offset)
    {
        int n = x.Length;
        for (int i = 0; i < output.Length; i++)
        {
            var row = w.AsSpan((int)(offset + (long)i * n), n);
            float sum = 0f;
            for (int j = 0; j < n; j++) sum += row[j] * x[j];
            output[i] = sum;
        }
    }

    private static void Softmax(Span<float> x)
    {
        float max = x[0];
        for (int i = 1; i < x.Length; i++) max = Math.Max(max, x[i]);
        float sum = 0f;
        for (int i = 0; i < x.Length; i++) { x[i] = MathF.Exp(x[i] - max); sum += x[i]; }
        for (int i = 0; i < x.Length; i++) x[i] /= sum;
    }
}

/// <summary>Logits and recorded activations of one <see cref="LlamaReference.Forward(IReadOnlyList{int})"/> call.</summary>
internal sealed class ReferenceRun
{
    internal ReferenceRun(int layers, int positions)
    {
        Logits = new float[positions][];
        Layers = Enumerable.Range(0, layers).Select(_ => new LayerActivations(positions)).ToArray();
    }

    /// <summary>Logits per position, [position][vocab].</summary>
    public float[][] Logits { get; }

    /// <summary>Activations per layer.</summary>
    public LayerActivations[] Layers { get; }

    /// <summary>Number of positions run.</summary>
    public int Positions => Logits.Length;

    /// <summary>Logits at the last position.</summary>
    public float[] LastLogits => Logits[^1];
}

/// <summary>One layer's activations at every position, at the points steering sites sit.</summary>
internal sealed class LayerActivations
{
    internal LayerActivations(int positions)
    {
        OProjInput = new float[positions][];
        DownProjInput = new float[positions][];
        DownProjOutput = new float[positions][];
    }

    /// <summary>Input of o_proj: the concatenated attention heads, [position][heads*headSize].</summary>
    public float[][] OProjInput { get; }

    /// <summary>Input of down_proj: silu(gate) * up, [position][hidden].</summary>
    public float[][] DownProjInput { get; }

    /// <summary>Output of down_proj (the MLP's contribution to the residual stream), [position][dim].</summary>
    public float[][] DownProjOutput { get; }

    /// <summary>o_proj input at the last position.</summary>
    public float[] LastOProjInput => OProjInput[^1];

    /// <summary>down_proj input at the last position.</summary>
    public float[] LastDownProjInput => DownProjInput[^1];

    /// <summary>down_proj output at the last position.</summary>
    public float[] LastDownProjOutput => DownProjOutput[^1];
}
