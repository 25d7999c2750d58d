using System.Buffers;

namespace OnnxSteer.Tokenizers;

/// <summary>A token matched in raw text before normalization (special tokens such as &lt;s&gt; and user-added ones).</summary>
/// <param name="Id">Token id.</param>
/// <param name="Content">The exact text it matches.</param>
/// <param name="Special">Special tokens are skipped when decoding with skipSpecialTokens.</param>
/// <param name="LStrip">Swallows whitespace on its left.</param>
/// <param name="RStrip">Swallows whitespace on its right.</param>
/// <param name="SingleWord">Matches only when not inside a word.</param>
internal sealed record AddedToken(int Id, string Content, bool Special, bool LStrip = false, bool RStrip = false, bool SingleWord = false);

/// <summary>Finds added tokens in text (leftmost match, longest token first) and splits the text around them.</summary>
internal sealed class AddedVocabulary
{
    private readonly Dictionary<char, AddedToken[]> _byFirstChar;
    private readonly SearchValues<char> _firstChars;

    public AddedVocabulary(IEnumerable<AddedToken> tokens)
    {
        Tokens = tokens.Where(t => t.Content.Length > 0).ToArray();
        _byFirstChar = Tokens.GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
        _firstChars = SearchValues.Create(_byFirstChar.Keys.ToArray());
    }

    /// <summary>All added tokens.</summary>
    public IReadOnlyList<AddedToken> Tokens { get; }

    /// <summary>A stretch of the input: plain text (<see cref="Token"/> null) or one added token.</summary>
    public readonly record struct Segment(int Start, int Length, AddedToken? Token);

    /// <summary>Splits <paramref name="text"/> into plain stretches and added tokens, in order; empty stretches are dropped.</summary>
    public List<Segment> Split(string text)
    {
        var segments = new List<Segment>();
        var plainStart = 0;
        var i = 0;
        while (i < text.Length)
        {
            var found = text.AsSpan(i).IndexOfAny(_firstChars);
            if (found < 0) break;
            i += found;
            var token = MatchAt(text, i);
            if (token is null)
            {
                i++;
                continue;
            }
            var start = i;
            var end = i + token.Content.Length;
            if (token.LStrip) while (start > plainStart && char.IsWhiteSpace(text[start - 1])) start--;
            if (token.RStrip) while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
            if (start > plainStart) segments.Add(new Segment(plainStart, start - plainStart, null));
            segments.Add(new Segment(start, end - start, token));
            plainStart = i = end;
        }
        if (plainStart < text.Length) segments.Add(new Segment(plainStart, text.Length - plainStart, null));
        return segments;
    }

    private AddedToken? MatchAt(string text, int index)
    {
        foreach (var token in _byFirstChar[text[index]])
        {
            if (!text.AsSpan(index).StartsWith(token.Content, StringComparison.Ordinal)) continue;
            if (token.SingleWord && !IsWordBoundary(text, index, index + token.Content.Length)) continue;
            return token;
        }
        return null;
    }

    private static bool IsWordBoundary(string text, int start, int end) =>
        (start == 0 || !char.IsLetterOrDigit(text[start - 1])) && (end == text.Length || !char.IsLetterOrDigit(text[end]));
}
