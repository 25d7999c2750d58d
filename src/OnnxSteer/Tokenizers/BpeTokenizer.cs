namespace OnnxSteer.Tokenizers;

/// <summary>
/// A Hugging Face style BPE tokenizer: added tokens are split out of the raw text first, every other stretch is
/// normalized, pre-tokenized into words and BPE-encoded; decoding runs the decoder chain over the token strings.
/// Thread-safe: the only mutable state is the word cache, which is a concurrent dictionary.
/// </summary>
internal sealed class BpeTokenizer : ITokenizer
{
    private readonly string?[] _idToToken;
    private readonly bool[] _isSpecial;
    private readonly Dictionary<string, int> _addedByContent;
    /// <summary>Without a pre-tokenizer (Llama-2) the whole text is one BPE word; see <see cref="CanSplitBeforeMetaspace"/>.</summary>
    private readonly bool _splitBeforeMetaspace;

    /// <summary>Assembles a tokenizer from its parts (see <see cref="TokenizerLoader"/> for reading them from files).</summary>
    public BpeTokenizer(BpeModel model, AddedVocabulary addedTokens, INormalizer? normalizer, IPreTokenizer? preTokenizer,
        IDecoder? decoder, IReadOnlyList<int> prefixIds, IReadOnlyList<int> suffixIds, int? bosTokenId, int? eosTokenId)
    {
        Model = model;
        AddedTokens = addedTokens;
        Normalizer = normalizer;
        PreTokenizer = preTokenizer;
        Decoder = decoder;
        PrefixIds = prefixIds;
        SuffixIds = suffixIds;
        BosTokenId = bosTokenId;
        EosTokenId = eosTokenId;

        var maxId = -1;
        foreach (var id in model.Vocab.Values) maxId = Math.Max(maxId, id);
        foreach (var token in addedTokens.Tokens) maxId = Math.Max(maxId, token.Id);
        // Ids index arrays sized by the largest one: a negative or absurd id in a (hostile) file must be refused here,
        // not turn into an IndexOutOfRangeException or a multi-GB allocation. 16M is far above any real vocabulary.
        var minId = model.Vocab.Values.Concat(addedTokens.Tokens.Select(t => t.Id)).DefaultIfEmpty(0).Min();
        if (minId < 0) throw new InvalidTokenizerException($"token id {minId} is negative");
        if (maxId >= MaxVocabularySize) throw new InvalidTokenizerException($"token id {maxId} is beyond any plausible vocabulary ({MaxVocabularySize})");
        VocabSize = maxId + 1;
        _idToToken = new string?[VocabSize];
        _isSpecial = new bool[VocabSize];
        foreach (var (token, id) in model.Vocab) _idToToken[id] = token;
        _splitBeforeMetaspace = preTokenizer is null && CanSplitBeforeMetaspace(model);
        _addedByContent = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in addedTokens.Tokens)
        {
            _idToToken[token.Id] = token.Content;
            _isSpecial[token.Id] = token.Special;
            _addedByContent[token.Content] = token.Id;
        }
    }

    /// <summary>Largest accepted token id + 1; larger ids in a file are rejected as malformed.</summary>
    public const int MaxVocabularySize = 1 << 24;

    public BpeModel Model { get; }
    public AddedVocabulary AddedTokens { get; }
    public INormalizer? Normalizer { get; }
    public IPreTokenizer? PreTokenizer { get; }
    public IDecoder? Decoder { get; }

    /// <summary>Ids put before a single sequence when special tokens are added (usually BOS).</summary>
    public IReadOnlyList<int> PrefixIds { get; }

    /// <summary>Ids put after a single sequence when special tokens are added (usually none; some models add EOS).</summary>
    public IReadOnlyList<int> SuffixIds { get; }

    public int? BosTokenId { get; }
    public int? EosTokenId { get; }
    public int VocabSize { get; }

    /// <summary>
    /// Encodes <paramref name="text"/>. With <paramref name="addBos"/> the tokenizer's own special tokens for a single
    /// sequence are added (<see cref="PrefixIds"/>, <see cref="SuffixIds"/>), as Hugging Face does with add_special_tokens.
    /// </summary>
    public IReadOnlyList<int> EncodeToIds(string text, bool addBos = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        if (addBos) ids.AddRange(PrefixIds);
        EncodeInto(text, ids);
        if (addBos) ids.AddRange(SuffixIds);
        return ids;
    }

    /// <summary>Number of ids <see cref="EncodeToIds"/> would return.</summary>
    public int CountTokens(string text, bool addBos = true) => EncodeToIds(text, addBos).Count;

    /// <summary>The token strings of the encoding (byte-level or "▁"-spelled, as stored in the vocabulary).</summary>
    public IReadOnlyList<string> EncodeToTokens(string text, bool addBos = false) =>
        EncodeToIds(text, addBos).Select(id => _idToToken[id] ?? "").ToList();

    private void EncodeInto(string text, List<int> ids)
    {
        var pieces = new List<string>();
        foreach (var segment in AddedTokens.Split(text))
        {
            if (segment.Token is not null)
            {
                ids.Add(segment.Token.Id);
                continue;
            }
            var plain = text.Substring(segment.Start, segment.Length);
            var normalized = Normalizer?.Normalize(plain) ?? plain;
            if (normalized.Length == 0) continue;
            if (PreTokenizer is null)
            {
                if (_splitBeforeMetaspace) EncodeSplitBeforeMetaspace(normalized, ids);
                else Model.Encode(normalized, ids);
                continue;
            }
            pieces.Clear();
            PreTokenizer.PreTokenize(normalized, segment.Start == 0, pieces);
            foreach (var piece in pieces) Model.Encode(piece, ids);
        }
    }

    private const char MetaspaceChar = '\u2581';

    /// <summary>
    /// True when no token has a "▁" right after another character: then no merge can join the symbols on either side
    /// of a "▁" that follows a non-"▁" character, so BPE on the pieces between such points gives exactly the ids of BPE
    /// on the whole text, while the pieces are short and cacheable (one long word would cost O(n log n) per call).
    /// </summary>
    private static bool CanSplitBeforeMetaspace(BpeModel model)
    {
        if (model.IgnoreMerges || !model.Vocab.ContainsKey(MetaspaceChar.ToString())) return false;
        foreach (var token in model.Vocab.Keys)
            for (var i = 1; i < token.Length; i++)
                if (token[i] == MetaspaceChar && token[i - 1] != MetaspaceChar) return false;
        return true;
    }

    private void EncodeSplitBeforeMetaspace(string text, List<int> ids)
    {
        var start = 0;
        for (var i = 1; i < text.Length; i++)
        {
            if (text[i] != MetaspaceChar || text[i - 1] == MetaspaceChar) continue;
            Model.Encode(text.AsSpan(start, i - start), ids);
            start = i;
        }
        Model.Encode(text.AsSpan(start), ids);
    }

    /// <summary>Decodes ids to text. Ids with no token (e.g. a model's padded vocabulary rows) are skipped, as in Hugging Face.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var tokens = new List<string>();
        foreach (var id in ids)
        {
            if ((uint)id >= (uint)VocabSize || _idToToken[id] is not { } token) continue;
            if (skipSpecialTokens && _isSpecial[id]) continue;
            tokens.Add(token);
        }
        if (Decoder is null) return string.Join(' ', tokens);
        return string.Concat(Decoder.DecodeChain(tokens));
    }

    /// <summary>The id of a token string (added tokens included), or null.</summary>
    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out var added) ? added : Model.Vocab.TryGetValue(token, out var id) ? id : null;

    /// <summary>The token string of an id, or null when the id has none.</summary>
    public string? IdToToken(int id) => (uint)id < (uint)VocabSize ? _idToToken[id] : null;

    /// <summary>True when the id is a special added token (skipped by <see cref="Decode"/> by default).</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)VocabSize && _isSpecial[id];
}
