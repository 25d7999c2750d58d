using OnnxSteer.Tokenizers;

namespace OnnxSteer.Generation;

/// <summary>
/// Turns a growing list of generated ids into text pieces to print as they come. Decodes the whole list each time and
/// emits only what is new, so multi-token characters (byte fallback, emoji) and SentencePiece's leading spaces come out
/// right; text ending in an incomplete character (U+FFFD) is held back until the character completes or
/// <see cref="Flush"/> ends the stream.
/// </summary>
public sealed class TextStreamer(ITokenizer tokenizer)
{
    private readonly List<int> _ids = [];
    private string _emitted = "";

    /// <summary>Adds one id; returns the new text to print (possibly empty).</summary>
    public string Push(int id)
    {
        _ids.Add(id);
        var text = tokenizer.Decode(_ids);
        if (text.EndsWith('\uFFFD')) return "";
        if (!text.StartsWith(_emitted, StringComparison.Ordinal))
        {
            // Decoding changed earlier text (rare with normalising decoders): print nothing now, the full text is final.
            return "";
        }
        var piece = text[_emitted.Length..];
        _emitted = text;
        return piece;
    }

    /// <summary>
    /// At the end of generation: what is still held back, printed as decoded (U+FFFD for bytes that never became a
    /// character), so the streamed text ends as the whole decoded text does.
    /// </summary>
    public string Flush()
    {
        var text = tokenizer.Decode(_ids);
        if (!text.StartsWith(_emitted, StringComparison.Ordinal)) return "";
        var rest = text[_emitted.Length..];
        _emitted = text;
        return rest;
    }

    /// <summary>The whole decoded text so far.</summary>
    public string Text => tokenizer.Decode(_ids);
}
