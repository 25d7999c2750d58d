using System.Buffers.Binary;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OnnxSteer.IO;

namespace OnnxSteer.Tokenizers;

/// <summary>
/// A llama2.c tokenizer file (<c>tok*.bin</c>): int32 max_token_length, then per token float32 score, int32 byte length
/// and the UTF-8 bytes. Ids 0, 1, 2 are &lt;unk&gt;, BOS, EOS and 3..258 the byte tokens &lt;0x00&gt;..&lt;0xFF&gt;; spaces are
/// plain ' ' (llama2.c's export turned SentencePiece's "▁" back into spaces).
/// </summary>
internal sealed class Llama2cTokenizerFile
{
    /// <summary>llama2.c's BOS id.</summary>
    public const int BosId = 1;
    /// <summary>llama2.c's EOS id.</summary>
    public const int EosId = 2;
    /// <summary>SentencePiece's word-boundary marker, used in place of ' ' in tokenizer.json.</summary>
    public const string Metaspace = "▁";

    private Llama2cTokenizerFile(int maxTokenLength, string[] pieces, float[] scores)
    {
        MaxTokenLength = maxTokenLength;
        Pieces = pieces;
        Scores = scores;
    }

    /// <summary>Longest token in bytes, as stored in the header.</summary>
    public int MaxTokenLength { get; }

    /// <summary>Token text by id, exactly as stored (spaces as ' ', BOS as "\n&lt;s&gt;\n").</summary>
    public IReadOnlyList<string> Pieces { get; }

    /// <summary>Merge score by id: llama2.c merges the adjacent pair whose joined token has the highest score.</summary>
    public IReadOnlyList<float> Scores { get; }

    /// <summary>Number of tokens.</summary>
    public int VocabSize => Pieces.Count;

    /// <summary>Reads a tok*.bin file; every token up to the end of the file is read.</summary>
    public static Llama2cTokenizerFile Read(string path)
    {
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidTokenizerException($"{path}: cannot read the llama2.c tokenizer: {e.Message}", e);
        }
        if (data.Length < 4) throw new InvalidTokenizerException($"{path}: too short for a llama2.c tokenizer (no header)");
        var maxTokenLength = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (maxTokenLength <= 0 || maxTokenLength > 1 << 16)
            throw new InvalidTokenizerException($"{path}: max_token_length {maxTokenLength} is not plausible; not a llama2.c tokenizer");
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        // A repeated piece reuses the first one's string: a file of one vocabulary repeated hundreds of times (the
        // 100k-input fuzz run's RepeatTail input, 344,064 pieces in 4 MB) otherwise allocated a string per piece,
        // 31 MB of small objects that force a full collection.
        var seen = new Dictionary<PieceBytes, string>(new PieceBytesComparer(data));
        // Every token takes at least 8 bytes, so this bound never regrows the lists.
        var pieces = new List<string>((data.Length - 4) / 8);
        var scores = new List<float>((data.Length - 4) / 8);
        var offset = 4;
        while (offset < data.Length)
        {
            if (data.Length - offset < 8) throw new InvalidTokenizerException($"{path}: token {pieces.Count} is cut off (truncated file)");
            var score = BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(offset));
            var length = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(offset + 4));
            offset += 8;
            if (length < 0 || length > data.Length - offset)
                throw new InvalidTokenizerException($"{path}: token {pieces.Count} claims {length} bytes, beyond the end of the file");
            var key = new PieceBytes(offset, length);
            if (!seen.TryGetValue(key, out var piece))
            {
                try
                {
                    piece = strict.GetString(data, offset, length);
                }
                catch (DecoderFallbackException e)
                {
                    throw new InvalidTokenizerException($"{path}: token {pieces.Count} is not valid UTF-8", e);
                }
                seen.Add(key, piece);
            }
            pieces.Add(piece);
            scores.Add(score);
            offset += length;
        }
        if (pieces.Count <= EosId) throw new InvalidTokenizerException($"{path}: only {pieces.Count} tokens; expected <unk>, BOS, EOS and more");
        return new Llama2cTokenizerFile(maxTokenLength, pieces.ToArray(), scores.ToArray());
    }

    /// <summary>Where a piece's UTF-8 bytes lie in the file.</summary>
    private readonly record struct PieceBytes(int Offset, int Length);

    /// <summary>Compares pieces by their bytes in <paramref name="data"/>.</summary>
    private sealed class PieceBytesComparer(byte[] data) : IEqualityComparer<PieceBytes>
    {
        public bool Equals(PieceBytes a, PieceBytes b) =>
            data.AsSpan(a.Offset, a.Length).SequenceEqual(data.AsSpan(b.Offset, b.Length));

        public int GetHashCode(PieceBytes p)
        {
            var hash = new HashCode();
            hash.AddBytes(data.AsSpan(p.Offset, p.Length));
            return hash.ToHashCode();
        }
    }

    /// <summary>The tokenizer.json name of a token: "&lt;s&gt;"/"&lt;/s&gt;" for BOS/EOS, "▁" for spaces.</summary>
    public string TokenName(int id)
    {
        var piece = Pieces[id];
        if (id is 0 or BosId or EosId) return id switch { 0 => piece.Trim('\n') is { Length: > 0 } t ? t : "<unk>", BosId => "<s>", _ => "</s>" };
        return IsByteToken(piece) ? piece : piece.Replace(" ", Metaspace, StringComparison.Ordinal);
    }

    /// <summary>
    /// An equivalent Hugging Face tokenizer.json (Llama-2 layout: "▁" prefix and spaces, byte fallback, BOS template).
    /// llama2.c's rule "merge the pair whose joined token scores highest" becomes BPE merges: every split of every
    /// multi-character token into two tokens, ranked by the joined token's score (higher first; ties by id).
    /// </summary>
    public string ToTokenizerJson()
    {
        var names = new string[VocabSize];
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var id = 0; id < VocabSize; id++)
        {
            names[id] = TokenName(id);
            ids.TryAdd(names[id], id); // first id wins for a repeated piece, as in llama2.c's sorted lookup
        }

        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            w.WriteStartArray("added_tokens");
            for (var id = 0; id <= EosId; id++)
            {
                w.WriteStartObject();
                w.WriteNumber("id", id);
                w.WriteString("content", names[id]);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }
            w.WriteEndArray();

            w.WriteStartObject("normalizer");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("normalizers");
            w.WriteStartObject(); w.WriteString("type", "Prepend"); w.WriteString("prepend", Metaspace); w.WriteEndObject();
            WriteReplace(w, " ", Metaspace);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteNull("pre_tokenizer");

            w.WriteStartObject("post_processor");
            w.WriteString("type", "TemplateProcessing");
            w.WriteStartArray("single");
            WriteTemplatePiece(w, "SpecialToken", names[BosId]);
            WriteTemplatePiece(w, "Sequence", "A");
            w.WriteEndArray();
            w.WriteStartArray("pair");
            WriteTemplatePiece(w, "SpecialToken", names[BosId]);
            WriteTemplatePiece(w, "Sequence", "A");
            WriteTemplatePiece(w, "SpecialToken", names[BosId]);
            WriteTemplatePiece(w, "Sequence", "B");
            w.WriteEndArray();
            w.WriteStartObject("special_tokens");
            w.WriteStartObject(names[BosId]);
            w.WriteString("id", names[BosId]);
            w.WriteStartArray("ids"); w.WriteNumberValue(BosId); w.WriteEndArray();
            w.WriteStartArray("tokens"); w.WriteStringValue(names[BosId]); w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();

            w.WriteStartObject("decoder");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("decoders");
            WriteReplace(w, Metaspace, " ");
            w.WriteStartObject(); w.WriteString("type", "ByteFallback"); w.WriteEndObject();
            w.WriteStartObject(); w.WriteString("type", "Fuse"); w.WriteEndObject();
            w.WriteStartObject(); w.WriteString("type", "Strip"); w.WriteString("content", " "); w.WriteNumber("start", 1); w.WriteNumber("stop", 0); w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();

            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteString("unk_token", names[0]);
            w.WriteNull("continuing_subword_prefix");
            w.WriteNull("end_of_word_suffix");
            w.WriteBoolean("fuse_unk", true);
            w.WriteBoolean("byte_fallback", true);
            w.WriteBoolean("ignore_merges", false);
            w.WriteStartObject("vocab");
            foreach (var (name, id) in ids.OrderBy(p => p.Value)) w.WriteNumber(name, id);
            w.WriteEndObject();
            w.WriteStartArray("merges");
            foreach (var (left, right) in Merges(names, ids))
            {
                w.WriteStartArray();
                w.WriteStringValue(left);
                w.WriteStringValue(right);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>A tokenizer_config.json naming BOS/EOS/unk and asking for BOS only (as llama2.c's run.c does).</summary>
    public string ToTokenizerConfigJson() => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["tokenizer_class"] = "LlamaTokenizer",
        ["bos_token"] = TokenName(BosId),
        ["eos_token"] = TokenName(EosId),
        ["unk_token"] = TokenName(0),
        ["add_bos_token"] = true,
        ["add_eos_token"] = false,
    }, new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    /// <summary>Writes tokenizer.json and tokenizer_config.json into <paramref name="folder"/> (atomically, each).</summary>
    public void WriteHuggingFaceFiles(string folder)
    {
        AtomicFile.WriteAllText(Path.Combine(folder, "tokenizer.json"), ToTokenizerJson());
        AtomicFile.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), ToTokenizerConfigJson());
    }

    /// <summary>Merges in rank order: tokens by score (descending, ties by id), each split into two known tokens.</summary>
    private IEnumerable<(string Left, string Right)> Merges(string[] names, Dictionary<string, int> ids)
    {
        bool Mergeable(string token) => ids.TryGetValue(token, out var id) && id > EosId && !IsByteToken(token);
        var order = Enumerable.Range(EosId + 1, VocabSize - EosId - 1)
            .Where(id => !IsByteToken(names[id]) && ids[names[id]] == id)
            .OrderByDescending(id => Scores[id]).ThenBy(id => id);
        foreach (var id in order)
        {
            var token = names[id];
            for (var split = 1; split < token.Length; split++)
            {
                if (char.IsLowSurrogate(token[split])) continue; // never split inside a character
                var left = token[..split];
                var right = token[split..];
                if (Mergeable(left) && Mergeable(right)) yield return (left, right);
            }
        }
    }

    internal static bool IsByteToken(string piece) => ByteFallbackDecoder.TryParseByteToken(piece, out _);

    private static void WriteReplace(Utf8JsonWriter w, string pattern, string content)
    {
        w.WriteStartObject();
        w.WriteString("type", "Replace");
        w.WriteStartObject("pattern"); w.WriteString("String", pattern); w.WriteEndObject();
        w.WriteString("content", content);
        w.WriteEndObject();
    }

    private static void WriteTemplatePiece(Utf8JsonWriter w, string kind, string id)
    {
        w.WriteStartObject();
        w.WriteStartObject(kind);
        w.WriteString("id", id);
        w.WriteNumber("type_id", 0);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
