using System.Collections.Concurrent;
using System.Text;

namespace OnnxSteer.Tokenizers;

/// <summary>
/// Byte-pair encoding over one pre-tokenized word, as Hugging Face's BPE model does it: start from single characters
/// (or their UTF-8 byte tokens when byte fallback is on), then repeatedly merge the adjacent pair with the lowest merge
/// rank, leftmost first on ties. Words up to 256 characters are cached.
/// </summary>
internal sealed class BpeModel
{
    private const int MaxCachedWordLength = 256;
    private const int MaxCacheEntries = 200_000;
    /// <summary>Above this many symbols a priority queue beats rescanning all pairs after every merge.</summary>
    private const int ScanLimit = 48;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabLookup;
    /// <summary>(left id, right id) packed into a long → (rank, merged id) packed into a long.</summary>
    private readonly Dictionary<long, long> _merges;
    /// <summary>Id of each BMP character that is a token by itself, -1 otherwise (only without prefix/suffix).</summary>
    private readonly int[]? _charIds;
    /// <summary>Id of each byte's "&lt;0xNN&gt;" token, -1 when missing.</summary>
    private readonly int[] _byteIds = new int[256];
    private readonly ConcurrentDictionary<string, int[]> _cache = new();
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;

    /// <summary>Builds the model from its vocabulary and its merges (in rank order).</summary>
    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, string? unkToken = null,
        bool byteFallback = false, bool fuseUnk = false, bool ignoreMerges = false,
        string? continuingSubwordPrefix = null, string? endOfWordSuffix = null)
    {
        _vocab = vocab;
        _vocabLookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
        ByteFallback = byteFallback;
        FuseUnk = fuseUnk;
        IgnoreMerges = ignoreMerges;
        ContinuingSubwordPrefix = string.IsNullOrEmpty(continuingSubwordPrefix) ? null : continuingSubwordPrefix;
        EndOfWordSuffix = string.IsNullOrEmpty(endOfWordSuffix) ? null : endOfWordSuffix;
        if (unkToken is not null)
            UnkId = vocab.TryGetValue(unkToken, out var unk) ? unk
                : throw new InvalidTokenizerException($"the BPE unk_token '{unkToken}' is not in the vocabulary");

        _merges = new Dictionary<long, long>(merges.Count);
        var prefixLength = ContinuingSubwordPrefix?.Length ?? 0;
        for (var rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!vocab.TryGetValue(left, out var leftId) || !vocab.TryGetValue(right, out var rightId))
                throw new InvalidTokenizerException($"merge {rank} ('{left}' '{right}') uses a token missing from the vocabulary");
            // With a continuing-subword prefix the merged token drops the right side's prefix (as in Hugging Face).
            var merged = prefixLength > 0 && right.StartsWith(ContinuingSubwordPrefix!, StringComparison.Ordinal)
                ? left + right[prefixLength..] : left + right;
            if (!vocab.TryGetValue(merged, out var mergedId))
                throw new InvalidTokenizerException($"merge {rank} ('{left}' '{right}') makes '{merged}', which is not in the vocabulary");
            _merges.TryAdd(Pack(leftId, rightId), Pack(rank, mergedId));
        }

        for (var b = 0; b < 256; b++) _byteIds[b] = vocab.TryGetValue($"<0x{b:X2}>", out var id) ? id : -1;
        if (ContinuingSubwordPrefix is null && EndOfWordSuffix is null)
        {
            _charIds = new int[65536];
            Array.Fill(_charIds, -1);
            foreach (var (token, id) in vocab)
                if (token.Length == 1 && !char.IsSurrogate(token[0])) _charIds[token[0]] = id;
        }
    }

    /// <summary>Id of the unknown token, if the model has one.</summary>
    public int? UnkId { get; }
    public bool ByteFallback { get; }
    public bool FuseUnk { get; }
    public bool IgnoreMerges { get; }
    public string? ContinuingSubwordPrefix { get; }
    public string? EndOfWordSuffix { get; }

    /// <summary>The model's own vocabulary (added tokens not included).</summary>
    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    /// <summary>Number of merges.</summary>
    public int MergeCount => _merges.Count;

    /// <summary>Appends the ids of one word to <paramref name="output"/>.</summary>
    public void Encode(ReadOnlySpan<char> word, List<int> output)
    {
        if (word.IsEmpty) return;
        if (IgnoreMerges && _vocabLookup.TryGetValue(word, out var whole))
        {
            output.Add(whole);
            return;
        }
        if (word.Length <= MaxCachedWordLength && _cacheLookup.TryGetValue(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        var ids = EncodeUncached(word);
        if (word.Length <= MaxCachedWordLength)
        {
            if (_cache.Count >= MaxCacheEntries) _cache.Clear();
            _cacheLookup.TryAdd(word, ids);
        }
        output.AddRange(ids);
    }

    private int[] EncodeUncached(ReadOnlySpan<char> word)
    {
        // A BMP char yields at most 3 byte tokens; a surrogate pair (2 chars) at most 4.
        var capacity = word.Length * 3;
        var buffer = capacity <= 256 ? stackalloc int[capacity] : new int[capacity];
        var count = InitialSymbols(word, buffer);
        var symbols = buffer[..count];
        return count <= ScanLimit ? MergeByScan(symbols) : MergeByQueue(symbols);
    }

    /// <summary>One symbol per character, byte tokens for characters outside the vocabulary, unk otherwise.</summary>
    private int InitialSymbols(ReadOnlySpan<char> word, Span<int> symbols)
    {
        var count = 0;
        var lastWasUnk = false;
        Span<char> affixed = stackalloc char[64];
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < word.Length;)
        {
            var length = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            var piece = word.Slice(i, length);
            int id;
            if (_charIds is not null)
                id = length == 1 ? _charIds[piece[0]] : _vocabLookup.TryGetValue(piece, out var found) ? found : -1;
            else
                id = LookupAffixed(piece, i > 0, i + length == word.Length, affixed);
            i += length;

            if (id >= 0)
            {
                symbols[count++] = id;
                lastWasUnk = false;
                continue;
            }
            if (ByteFallback)
            {
                var byteCount = Encoding.UTF8.GetBytes(piece, utf8);
                var all = true;
                for (var b = 0; b < byteCount; b++) all &= _byteIds[utf8[b]] >= 0;
                if (all)
                {
                    for (var b = 0; b < byteCount; b++) symbols[count++] = _byteIds[utf8[b]];
                    lastWasUnk = false;
                    continue;
                }
            }
            if (UnkId is { } unk && !(FuseUnk && lastWasUnk))
            {
                symbols[count++] = unk;
                lastWasUnk = true;
            }
        }
        return count;
    }

    private int LookupAffixed(ReadOnlySpan<char> piece, bool continuing, bool last, Span<char> scratch)
    {
        var prefix = continuing ? ContinuingSubwordPrefix.AsSpan() : default;
        var suffix = last ? EndOfWordSuffix.AsSpan() : default;
        var total = prefix.Length + piece.Length + suffix.Length;
        var text = total <= scratch.Length ? scratch[..total] : new char[total];
        prefix.CopyTo(text);
        piece.CopyTo(text[prefix.Length..]);
        suffix.CopyTo(text[(prefix.Length + piece.Length)..]);
        return _vocabLookup.TryGetValue(text, out var id) ? id : -1;
    }

    /// <summary>Short words: keep each pair's rank and rescan for the minimum after every merge.</summary>
    private int[] MergeByScan(Span<int> ids)
    {
        var n = ids.Length;
        Span<int> next = n <= 256 ? stackalloc int[n] : new int[n];
        Span<long> pair = n <= 256 ? stackalloc long[n] : new long[n]; // (rank, merged id) of the pair starting at i; long.MaxValue if none
        for (var i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
            pair[i] = i + 1 < n ? PairOf(ids[i], ids[i + 1]) : long.MaxValue;
        }
        var alive = n;
        while (true)
        {
            int best = -1, previousOfBest = -1, previous = -1;
            var bestPair = long.MaxValue;
            for (var i = 0; i != -1; previous = i, i = next[i])
                if (pair[i] < bestPair) { bestPair = pair[i]; best = i; previousOfBest = previous; }
            if (best < 0) break;
            var right = next[best];
            ids[best] = (int)bestPair;
            next[best] = next[right];
            alive--;
            pair[best] = next[best] >= 0 ? PairOf(ids[best], ids[next[best]]) : long.MaxValue;
            if (previousOfBest >= 0) pair[previousOfBest] = PairOf(ids[previousOfBest], ids[best]);
        }
        var result = new int[alive];
        for (int i = 0, k = 0; i != -1; i = next[i]) result[k++] = ids[i];
        return result;
    }

    /// <summary>Long words: a priority queue of (rank, position), stale entries skipped when popped.</summary>
    private int[] MergeByQueue(Span<int> ids)
    {
        var n = ids.Length;
        var next = new int[n];
        var prev = new int[n];
        var queue = new PriorityQueue<int, long>(n);
        for (var i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
            if (i + 1 < n) Enqueue(queue, i, PairOf(ids[i], ids[i + 1]));
        }
        var alive = n;
        while (queue.TryDequeue(out var position, out var priority))
        {
            var right = next[position];
            if (ids[position] < 0 || right < 0) continue;
            var current = PairOf(ids[position], ids[right]);
            if (current == long.MaxValue || (int)(current >> 32) != (int)(priority >> 32)) continue;
            ids[position] = (int)current;
            ids[right] = -1;
            next[position] = next[right];
            if (next[position] >= 0) prev[next[position]] = position;
            alive--;
            if (prev[position] >= 0) Enqueue(queue, prev[position], PairOf(ids[prev[position]], ids[position]));
            if (next[position] >= 0) Enqueue(queue, position, PairOf(ids[position], ids[next[position]]));
        }
        var result = new int[alive];
        for (int i = 0, k = 0; i != -1; i = next[i]) result[k++] = ids[i];
        return result;
    }

    private static void Enqueue(PriorityQueue<int, long> queue, int position, long pair)
    {
        if (pair != long.MaxValue) queue.Enqueue(position, ((pair >> 32) << 32) | (uint)position);
    }

    private long PairOf(int left, int right) =>
        _merges.TryGetValue(Pack(left, right), out var value) ? value : long.MaxValue;

    private static long Pack(int high, int low) => ((long)high << 32) | (uint)low;

    /// <summary>Test hook: both merge strategies on the same word, so tests can check they agree.</summary>
    internal (int[] Scan, int[] Queue) EncodeBothWays(string word)
    {
        var buffer = new int[word.Length * 3];
        var count = InitialSymbols(word, buffer);
        var copy = buffer[..count].ToArray();
        return (MergeByScan(buffer.AsSpan(0, count)), MergeByQueue(copy));
    }
}
