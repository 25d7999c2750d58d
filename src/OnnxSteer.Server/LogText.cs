using System.Globalization;
using System.Text;

namespace OnnxSteer.Server;

/// <summary>
/// Text from a request made safe to put in a log line or an error message: control characters (newlines that would
/// forge a log line, ESC sequences that would reach whoever tails the log) and the Unicode line and bidi controls are
/// written as <c>\n</c>, <c>\t</c>, <c>\r</c> or <c>\uXXXX</c>, a backslash as <c>\\</c>.
/// </summary>
internal static class LogText
{
    /// <summary><paramref name="text"/> escaped, cut with an ellipsis past <paramref name="max"/> characters.</summary>
    public static string Escape(string? text, int max = 200)
    {
        if (text is null) return "";
        var cut = text.Length > max;
        var span = cut ? text.AsSpan(0, max) : text.AsSpan();
        if (!cut && !NeedsEscape(span)) return text;
        var b = new StringBuilder(span.Length + 8);
        for (var i = 0; i < span.Length; i++)
        {
            var c = span[i];
            if (char.IsHighSurrogate(c) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
            {
                b.Append(c).Append(span[++i]);
                continue;
            }
            switch (c)
            {
                case '\\': b.Append(@"\\"); break;
                case '\n': b.Append(@"\n"); break;
                case '\r': b.Append(@"\r"); break;
                case '\t': b.Append(@"\t"); break;
                default:
                    if (IsUnsafe(c)) b.Append(@"\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else b.Append(c);
                    break;
            }
        }
        if (cut) b.Append('…');
        return b.ToString();
    }

    private static bool NeedsEscape(ReadOnlySpan<char> text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            if (c == '\\' || IsUnsafe(c)) return true;
        }
        return false;
    }

    /// <summary>C0/C1 controls, DEL, line/paragraph separators, bidi overrides and isolates, lone surrogates (pairs are skipped before).</summary>
    private static bool IsUnsafe(char c) =>
        char.IsControl(c) || c is '\u2028' or '\u2029' || c is >= '\u202a' and <= '\u202e' || c is >= '\u2066' and <= '\u2069'
        || char.IsSurrogate(c);
}
