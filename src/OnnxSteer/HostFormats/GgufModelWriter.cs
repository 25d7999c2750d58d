using OnnxSteer.Import;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.HostFormats;

/// <summary>
/// Writes a llama2.c checkpoint and its tokenizer as a llama.cpp GGUF model (architecture "llama", all tensors F32),
/// so llama.cpp can run the very weights OnnxSteer imports — an independent runtime for checking our generation and
/// our GGUF control vectors. Layout follows llama.cpp's llama loader:
/// <list type="bullet">
/// <item>weights keep llama2.c's row-major [out][in] order, which is ggml's [in, out] (ne[0] first);</item>
/// <item>no Q/K permutation: llama2.c already rotates adjacent pairs, llama.cpp's "norm" RoPE for this architecture;</item>
/// <item>a classifier shared with the embedding is left out (llama.cpp then reuses token_embd.weight);</item>
/// <item>the tokenizer is a SentencePiece-style vocabulary ("llama"): pieces with "▁" for spaces, their scores, and
/// token types (unknown, control for BOS/EOS, byte for &lt;0xNN&gt;, normal).</item>
/// </list>
/// </summary>
internal static class GgufModelWriter
{
    private const int TypeNormal = 1, TypeUnknown = 2, TypeControl = 3, TypeByte = 6;

    /// <summary>Writes <paramref name="checkpoint"/> with <paramref name="tokenizer"/> to <paramref name="path"/> atomically.</summary>
    /// <exception cref="ArgumentException">The tokenizer's vocabulary size differs from the checkpoint's.</exception>
    public static void Write(string path, Llama2cCheckpoint checkpoint, Llama2cTokenizerFile tokenizer, string name = "llama2c")
    {
        var c = checkpoint.Config;
        if (tokenizer.VocabSize != c.VocabSize)
            throw new ArgumentException($"the tokenizer has {tokenizer.VocabSize} tokens but the checkpoint's vocabulary is {c.VocabSize}");
        GgufWriter.Write(path, Metadata(c, tokenizer, name), Tensors(checkpoint));
    }

    private static List<KeyValuePair<string, GgufValue>> Metadata(LlamaConfig c, Llama2cTokenizerFile tok, string name)
    {
        var ids = Enumerable.Range(0, tok.VocabSize);
        return
        [
            new(GgufFile.ArchitectureKey, GgufValue.Of("llama")),
            new("general.name", GgufValue.Of(name)),
            new("general.file_type", GgufValue.Of(0u)), // all F32
            new("llama.vocab_size", GgufValue.Of((uint)c.VocabSize)),
            new("llama.context_length", GgufValue.Of((uint)c.MaxSequenceLength)),
            new("llama.embedding_length", GgufValue.Of((uint)c.Dim)),
            new("llama.block_count", GgufValue.Of((uint)c.Layers)),
            new("llama.feed_forward_length", GgufValue.Of((uint)c.HiddenDim)),
            new("llama.rope.dimension_count", GgufValue.Of((uint)c.HeadSize)),
            new("llama.rope.freq_base", GgufValue.Of(c.RopeTheta)),
            new("llama.attention.head_count", GgufValue.Of((uint)c.Heads)),
            new("llama.attention.head_count_kv", GgufValue.Of((uint)c.KvHeads)),
            new("llama.attention.layer_norm_rms_epsilon", GgufValue.Of(c.NormEpsilon)),
            new("tokenizer.ggml.model", GgufValue.Of("llama")),
            new("tokenizer.ggml.tokens", Array(GgufValueType.String, ids.Select(i => GgufValue.Of(tok.TokenName(i))))),
            new("tokenizer.ggml.scores", Array(GgufValueType.Float32, tok.Scores.Select(GgufValue.Of))),
            new("tokenizer.ggml.token_type", Array(GgufValueType.Int32, ids.Select(i => GgufValue.Of(TokenType(tok, i))))),
            new("tokenizer.ggml.unknown_token_id", GgufValue.Of(0u)),
            new("tokenizer.ggml.bos_token_id", GgufValue.Of((uint)Llama2cTokenizerFile.BosId)),
            new("tokenizer.ggml.eos_token_id", GgufValue.Of((uint)Llama2cTokenizerFile.EosId)),
            new("tokenizer.ggml.add_bos_token", GgufValue.Of(true)),
        ];
    }

    private static GgufValue Array(GgufValueType type, IEnumerable<GgufValue> items) =>
        new(GgufValueType.Array, new GgufArray(type, items.ToList()));

    private static int TokenType(Llama2cTokenizerFile tok, int id) => id switch
    {
        0 => TypeUnknown,
        Llama2cTokenizerFile.BosId or Llama2cTokenizerFile.EosId => TypeControl,
        _ => Llama2cTokenizerFile.IsByteToken(tok.Pieces[id]) ? TypeByte : TypeNormal,
    };

    private static List<GgufF32Tensor> Tensors(Llama2cCheckpoint w)
    {
        var c = w.Config;
        ulong dim = (ulong)c.Dim, hidden = (ulong)c.HiddenDim, qDim = (ulong)(c.Heads * c.HeadSize), kvDim = (ulong)c.KvDim;
        var tensors = new List<GgufF32Tensor>
        {
            new("token_embd.weight", [dim, (ulong)c.VocabSize], w.TokenEmbedding),
            new("output_norm.weight", [dim], w.RmsFinal),
        };
        if (!w.SharedClassifier) tensors.Add(new("output.weight", [dim, (ulong)c.VocabSize], w.Classifier));
        for (var l = 0; l < c.Layers; l++)
        {
            float[] Slice(float[] all, ulong rows, ulong cols) =>
                all.AsSpan(checked((int)((ulong)l * rows * cols)), checked((int)(rows * cols))).ToArray();
            tensors.Add(new($"blk.{l}.attn_norm.weight", [dim], Slice(w.RmsAttention, 1, dim)));
            tensors.Add(new($"blk.{l}.attn_q.weight", [dim, qDim], Slice(w.Wq, qDim, dim)));
            tensors.Add(new($"blk.{l}.attn_k.weight", [dim, kvDim], Slice(w.Wk, kvDim, dim)));
            tensors.Add(new($"blk.{l}.attn_v.weight", [dim, kvDim], Slice(w.Wv, kvDim, dim)));
            tensors.Add(new($"blk.{l}.attn_output.weight", [qDim, dim], Slice(w.Wo, dim, qDim)));
            tensors.Add(new($"blk.{l}.ffn_norm.weight", [dim], Slice(w.RmsFeedForward, 1, dim)));
            tensors.Add(new($"blk.{l}.ffn_gate.weight", [dim, hidden], Slice(w.W1, hidden, dim)));
            tensors.Add(new($"blk.{l}.ffn_down.weight", [hidden, dim], Slice(w.W2, dim, hidden)));
            tensors.Add(new($"blk.{l}.ffn_up.weight", [dim, hidden], Slice(w.W3, hidden, dim)));
        }
        return tensors;
    }
}
