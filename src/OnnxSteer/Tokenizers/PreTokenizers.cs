using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace OnnxSteer.Tokenizers;

/// <summary>Splits normalized text into the words BPE runs on (Hugging Face "pre_tokenizer").</summary>
internal interface IPreTokenizer
{
    /// <summary>Appends the pieces of <paramref name="text"/> to <paramref name="output"/>.
    /// <paramref name="atTextStart"/> is true when the text begins the whole input (for "first"-only prefixes).</summary>
    void PreTokenize(string text, bool atTextStart, List<string> output);
}

/// <summary>How a split keeps the delimiters it finds (Hugging Face <c>SplitDelimiterBehavior</c>).</summary>
internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>Shared splitting logic: turns match spans into pieces according to a <see cref="SplitBehavior"/>.</summary>
internal static class Splitting
{
    /// <summary>Splits <paramref name="text"/> around <paramref name="matches"/> (ascending, non-overlapping spans).</summary>
    public static void Split(string text, List<(int Start, int Length)> matches, SplitBehavior behavior, bool invert,
        List<string> output)
    {
        // Segments covering the whole text, each flagged as match or gap (flags swapped when inverted).
        var segments = new List<(int Start, int End, bool IsMatch)>(matches.Count * 2 + 1);
        var position = 0;
        foreach (var (start, length) in matches)
        {
            if (length == 0) continue;
            if (start > position) segments.Add((position, start, invert));
            segments.Add((start, start + length, !invert));
            position = start + length;
        }
        if (position < text.Length) segments.Add((position, text.Length, invert));

        var pieces = new List<(int Start, int End)>(segments.Count);
        switch (behavior)
        {
            case SplitBehavior.Removed:
                foreach (var s in segments) if (!s.IsMatch) pieces.Add((s.Start, s.End));
                break;
            case SplitBehavior.Isolated:
                foreach (var s in segments) pieces.Add((s.Start, s.End));
                break;
            case SplitBehavior.MergedWithPrevious:
            {
                var previousMatch = false;
                foreach (var s in segments)
                {
                    if (s.IsMatch && !previousMatch && pieces.Count > 0) pieces[^1] = (pieces[^1].Start, s.End);
                    else pieces.Add((s.Start, s.End));
                    previousMatch = s.IsMatch;
                }
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                var previousMatch = false;
                for (var i = segments.Count - 1; i >= 0; i--)
                {
                    var s = segments[i];
                    if (s.IsMatch && !previousMatch && pieces.Count > 0) pieces[^1] = (s.Start, pieces[^1].End);
                    else pieces.Add((s.Start, s.End));
                    previousMatch = s.IsMatch;
                }
                pieces.Reverse();
                break;
            }
            case SplitBehavior.Contiguous:
            {
                var previousMatch = false;
                foreach (var s in segments)
                {
                    if (s.IsMatch && previousMatch && pieces.Count > 0) pieces[^1] = (pieces[^1].Start, s.End);
                    else pieces.Add((s.Start, s.End));
                    previousMatch = s.IsMatch;
                }
                break;
            }
        }
        foreach (var (start, end) in pieces)
            if (end > start) output.Add(start == 0 && end == text.Length ? text : text.Substring(start, end - start));
    }

    public static List<(int, int)> RegexMatches(Regex regex, string text)
    {
        var matches = new List<(int, int)>();
        foreach (var m in regex.EnumerateMatches(text)) if (m.Length > 0) matches.Add((m.Index, m.Length));
        return matches;
    }

    public static List<(int, int)> LiteralMatches(string pattern, string text)
    {
        var matches = new List<(int, int)>();
        if (pattern.Length == 0) return matches;
        for (var i = text.IndexOf(pattern, StringComparison.Ordinal); i >= 0;
             i = text.IndexOf(pattern, i + pattern.Length, StringComparison.Ordinal))
            matches.Add((i, pattern.Length));
        return matches;
    }
}

/// <summary>Applies its pre-tokenizers in order, each to every piece the previous one produced.</summary>
internal sealed class SequencePreTokenizer(IReadOnlyList<IPreTokenizer> steps) : IPreTokenizer
{
    public void PreTokenize(string text, bool atTextStart, List<string> output)
    {
        List<string> current = [text];
        foreach (var step in steps)
        {
            var next = new List<string>(current.Count * 2);
            for (var i = 0; i < current.Count; i++) step.PreTokenize(current[i], atTextStart && i == 0, next);
            current = next;
        }
        output.AddRange(current);
    }
}

/// <summary>Splits on a literal string or a regular expression (Hugging Face "Split").</summary>
internal sealed class SplitPreTokenizer : IPreTokenizer
{
    private readonly Regex? _regex;
    private readonly string? _literal;
    private readonly SplitBehavior _behavior;
    private readonly bool _invert;

    public SplitPreTokenizer(string pattern, bool isRegex, SplitBehavior behavior, bool invert)
    {
        if (isRegex) _regex = RegexCache.Get(pattern);
        else _literal = pattern;
        _behavior = behavior;
        _invert = invert;
    }

    public void PreTokenize(string text, bool atTextStart, List<string> output) =>
        Splitting.Split(text, _regex is not null ? Splitting.RegexMatches(_regex, text) : Splitting.LiteralMatches(_literal!, text),
            _behavior, _invert, output);
}

/// <summary>
/// GPT-2 style byte-level pre-tokenizer: optionally prefixes a space, splits with GPT-2's regex, then spells every
/// UTF-8 byte of each piece as its <see cref="ByteLevelMapping"/> character.
/// </summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : IPreTokenizer
{
    /// <summary>GPT-2's split pattern (contractions, letters, numbers, other symbols, whitespace).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private static readonly Regex Gpt2Regex = RegexCache.Get(Gpt2Pattern);

    public void PreTokenize(string text, bool atTextStart, List<string> output)
    {
        if (addPrefixSpace && !text.StartsWith(' ')) text = " " + text;
        if (!useRegex)
        {
            if (text.Length > 0) output.Add(ToByteLevel(text));
            return;
        }
        foreach (var m in Gpt2Regex.EnumerateMatches(text))
            if (m.Length > 0) output.Add(ToByteLevel(text.AsSpan(m.Index, m.Length)));
    }

    /// <summary>Spells the UTF-8 bytes of <paramref name="text"/> with the byte-level alphabet.</summary>
    public static string ToByteLevel(ReadOnlySpan<char> text)
    {
        var maxBytes = Encoding.UTF8.GetMaxByteCount(text.Length);
        Span<byte> bytes = maxBytes <= 512 ? stackalloc byte[maxBytes] : new byte[maxBytes];
        var count = Encoding.UTF8.GetBytes(text, bytes);
        Span<char> chars = count <= 1024 ? stackalloc char[count] : new char[count];
        for (var i = 0; i < count; i++) chars[i] = ByteLevelMapping.ByteToChar[bytes[i]];
        return new string(chars);
    }
}

/// <summary>SentencePiece-style spaces: replaces ' ' by "▁", adds a leading "▁", optionally splits before each "▁".</summary>
internal sealed class MetaspacePreTokenizer(string replacement, PrependScheme prependScheme, bool split) : IPreTokenizer
{
    public void PreTokenize(string text, bool atTextStart, List<string> output)
    {
        var normalized = text.Replace(" ", replacement, StringComparison.Ordinal);
        var prepend = prependScheme == PrependScheme.Always || (prependScheme == PrependScheme.First && atTextStart);
        if (prepend && !normalized.StartsWith(replacement, StringComparison.Ordinal)) normalized = replacement + normalized;
        if (split) Splitting.Split(normalized, Splitting.LiteralMatches(replacement, normalized), SplitBehavior.MergedWithNext, false, output);
        else if (normalized.Length > 0) output.Add(normalized);
    }
}

/// <summary>When Metaspace adds its leading replacement character.</summary>
internal enum PrependScheme { Always, First, Never }

/// <summary>Isolates digits: each one alone, or each run of digits.</summary>
internal sealed class DigitsPreTokenizer(bool individualDigits) : IPreTokenizer
{
    public void PreTokenize(string text, bool atTextStart, List<string> output)
    {
        var matches = new List<(int, int)>();
        for (var i = 0; i < text.Length; i++)
        {
            if (!char.IsDigit(text[i])) continue;
            var start = i;
            if (!individualDigits) while (i + 1 < text.Length && char.IsDigit(text[i + 1])) i++;
            matches.Add((start, i - start + 1));
        }
        Splitting.Split(text, matches, SplitBehavior.Isolated, false, output);
    }
}

/// <summary>Word characters runs and punctuation runs, whitespace dropped (Hugging Face "Whitespace").</summary>
internal sealed class WhitespacePreTokenizer : IPreTokenizer
{
    private static readonly Regex Words = RegexCache.Get(@"\w+|[^\w\s]+");

    public void PreTokenize(string text, bool atTextStart, List<string> output) =>
        Splitting.Split(text, Splitting.RegexMatches(Words, text), SplitBehavior.Removed, true, output);
}

/// <summary>Splits on whitespace, dropping it (Hugging Face "WhitespaceSplit").</summary>
internal sealed class WhitespaceSplitPreTokenizer : IPreTokenizer
{
    private static readonly Regex Spaces = RegexCache.Get(@"\s+");

    public void PreTokenize(string text, bool atTextStart, List<string> output) =>
        Splitting.Split(text, Splitting.RegexMatches(Spaces, text), SplitBehavior.Removed, false, output);
}

/// <summary>Splits off punctuation characters with the given behavior (Hugging Face "Punctuation").</summary>
internal sealed class PunctuationPreTokenizer(SplitBehavior behavior) : IPreTokenizer
{
    public void PreTokenize(string text, bool atTextStart, List<string> output)
    {
        var matches = new List<(int, int)>();
        for (var i = 0; i < text.Length; i++)
            if (IsPunctuation(text[i])) matches.Add((i, 1));
        Splitting.Split(text, matches, behavior, false, output);
    }

    private static bool IsPunctuation(char c) =>
        char.IsPunctuation(c) || (c < 128 && char.IsSymbol(c)) ||
        CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.ConnectorPunctuation;
}

/// <summary>Compiled regular expressions shared between tokenizers (patterns repeat across models).</summary>
internal static class RegexCache
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Regex> Cache = new();

    public static Regex Get(string pattern) =>
        Cache.GetOrAdd(pattern, p => new Regex(p, RegexOptions.Compiled | RegexOptions.CultureInvariant));
}
