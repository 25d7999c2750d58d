using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace OnnxSteer.Tokenizers;

/// <summary>A text-to-text step applied to each stretch of input between added tokens (Hugging Face "normalizer").</summary>
internal interface INormalizer
{
    /// <summary>Returns the normalized text.</summary>
    string Normalize(string text);
}

/// <summary>Applies its normalizers in order.</summary>
internal sealed class SequenceNormalizer(IReadOnlyList<INormalizer> steps) : INormalizer
{
    public string Normalize(string text)
    {
        foreach (var step in steps) text = step.Normalize(text);
        return text;
    }
}

/// <summary>Unicode normalization (NFC, NFD, NFKC, NFKD).</summary>
internal sealed class UnicodeNormalizer(NormalizationForm form) : INormalizer
{
    public string Normalize(string text) => text.IsNormalized(form) ? text : text.Normalize(form);
}

/// <summary>Prepends a fixed string to non-empty text (Llama-2's "▁" dummy prefix).</summary>
internal sealed class PrependNormalizer(string prefix) : INormalizer
{
    public string Normalize(string text) => text.Length == 0 ? text : string.Concat(prefix, text);
}

/// <summary>Replaces every occurrence of a literal string or a regular expression.</summary>
internal sealed class ReplaceNormalizer : INormalizer
{
    private readonly string? _literal;
    private readonly Regex? _regex;
    private readonly string _content;

    /// <summary>Replaces a literal <paramref name="pattern"/> (or, when <paramref name="isRegex"/>, a regular expression).</summary>
    public ReplaceNormalizer(string pattern, string content, bool isRegex)
    {
        if (isRegex) _regex = new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
        else _literal = pattern;
        _content = content;
    }

    public string Normalize(string text) => Apply(text);

    internal string Apply(string text)
    {
        if (_regex is not null) return _regex.Replace(text, _content.Replace("$", "$$"));
        return _literal!.Length == 0 ? text : text.Replace(_literal, _content, StringComparison.Ordinal);
    }
}

/// <summary>Removes leading and/or trailing whitespace.</summary>
internal sealed class StripNormalizer(bool left, bool right) : INormalizer
{
    public string Normalize(string text) =>
        left && right ? text.Trim() : left ? text.TrimStart() : right ? text.TrimEnd() : text;
}

/// <summary>Lower-cases text (culture-invariant).</summary>
internal sealed class LowercaseNormalizer : INormalizer
{
    public string Normalize(string text) => text.ToLowerInvariant();
}

/// <summary>Drops combining marks (meant to follow NFD, as in Hugging Face).</summary>
internal sealed class StripAccentsNormalizer : INormalizer
{
    public string Normalize(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
            if (CharUnicodeInfo.GetUnicodeCategory(c) != UnicodeCategory.NonSpacingMark) builder.Append(c);
        return builder.ToString();
    }
}
