using System.Globalization;
using System.Text;

namespace OnnxSteer.Tokenizers;

/// <summary>Turns token strings back into text (Hugging Face "decoder"); each step maps a token list to a token list.</summary>
internal interface IDecoder
{
    /// <summary>Transforms the token strings; the final text is the concatenation of what the last step returns.</summary>
    List<string> DecodeChain(List<string> tokens);
}

/// <summary>Applies its decoders in order.</summary>
internal sealed class SequenceDecoder(IReadOnlyList<IDecoder> steps) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        foreach (var step in steps) tokens = step.DecodeChain(tokens);
        return tokens;
    }
}

/// <summary>Replaces a literal or regex pattern in every token (Llama-2: "▁" back to " ").</summary>
internal sealed class ReplaceDecoder(ReplaceNormalizer replace) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens) => tokens.ConvertAll(replace.Apply);
}

/// <summary>Turns runs of "&lt;0xNN&gt;" tokens into the UTF-8 text they spell; invalid runs become one U+FFFD per byte.</summary>
internal sealed class ByteFallbackDecoder : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        var bytes = new List<byte>();
        foreach (var token in tokens)
        {
            if (TryParseByteToken(token, out var b))
            {
                bytes.Add(b);
                continue;
            }
            Flush(bytes, output);
            output.Add(token);
        }
        Flush(bytes, output);
        return output;
    }

    /// <summary>True for tokens of the exact form &lt;0xNN&gt;.</summary>
    public static bool TryParseByteToken(string token, out byte value)
    {
        value = 0;
        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>' &&
               byte.TryParse(token.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    private static void Flush(List<byte> bytes, List<string> output)
    {
        if (bytes.Count == 0) return;
        try
        {
            output.Add(StrictUtf8.GetString(bytes.ToArray()));
        }
        catch (DecoderFallbackException)
        {
            for (var i = 0; i < bytes.Count; i++) output.Add("\uFFFD");
        }
        bytes.Clear();
    }
}

/// <summary>Joins all tokens into one.</summary>
internal sealed class FuseDecoder : IDecoder
{
    public List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
}

/// <summary>Removes up to <c>start</c> leading and <c>stop</c> trailing copies of a character from each token.</summary>
internal sealed class StripDecoder(char content, int start, int stop) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens) => tokens.ConvertAll(token =>
    {
        var from = 0;
        while (from < start && from < token.Length && token[from] == content) from++;
        var to = token.Length;
        while (token.Length - to < stop && to > from && token[to - 1] == content) to--;
        return token[from..to];
    });
}

/// <summary>Maps byte-level characters back to bytes and decodes them as UTF-8 (invalid bytes become U+FFFD).</summary>
internal sealed class ByteLevelDecoder : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var token in tokens)
        {
            var allMapped = true;
            foreach (var c in token) allMapped &= c < ByteLevelMapping.CharToByte.Length && ByteLevelMapping.CharToByte[c] >= 0;
            if (allMapped) foreach (var c in token) bytes.Add((byte)ByteLevelMapping.CharToByte[c]);
            else bytes.AddRange(Encoding.UTF8.GetBytes(token));
        }
        return [Encoding.UTF8.GetString(bytes.ToArray())];
    }
}

/// <summary>SentencePiece spaces back to ' '; the first token loses its leading marker unless the scheme is "never".</summary>
internal sealed class MetaspaceDecoder(char replacement, PrependScheme prependScheme) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        for (var i = 0; i < tokens.Count; i++)
        {
            var builder = new StringBuilder(tokens[i].Length);
            foreach (var c in tokens[i])
            {
                if (c != replacement) builder.Append(c);
                else if (!(i == 0 && prependScheme != PrependScheme.Never)) builder.Append(' ');
            }
            output.Add(builder.ToString());
        }
        return output;
    }
}

/// <summary>WordPiece: "##" continuation tokens attach to the previous one, others are separated by a space.</summary>
internal sealed class WordPieceDecoder(string prefix) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            if (i > 0 && token.StartsWith(prefix, StringComparison.Ordinal)) output.Add(token[prefix.Length..]);
            else output.Add(i == 0 ? token : " " + token);
        }
        return output;
    }
}

/// <summary>Classic BPE with an end-of-word suffix: the suffix becomes a space, except after the last token.</summary>
internal sealed class SuffixBpeDecoder(string suffix) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        for (var i = 0; i < tokens.Count; i++)
            output.Add(tokens[i].Replace(suffix, i == tokens.Count - 1 ? "" : " ", StringComparison.Ordinal));
        return output;
    }
}
