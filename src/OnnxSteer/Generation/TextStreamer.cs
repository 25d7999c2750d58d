using OnnxSteer.Tokenizers;

namespace OnnxSteer.Generation;

/// <summary>
/// Turns a growing list of generated ids into text pieces to print as they come. Decodes the whole sequence — the
/// context (the prompt's ids) and everything generated — each time and emits only what is new, so the first generated
/// token keeps its leading space (SentencePiece-style decoders strip the space of the first token they see, which must be
/// the prompt's, not the continuation's), multi-token characters (byte fallback, emoji) come out right, and text ending
/// in an incomplete character (U+FFFD) is held back until the character completes or
/// <see cref="Flush"/> ends the stream.
/// </summary>
public sealed class TextStreamer
{
    private readonly ITokenizer _tokenizer;
    private readonly List<int> _ids;
    private readonly int _contextCount;
    private readonly string _contextText;
    private string _emitted;

    /// <summary>A streamer for the continuation of <paramref name="context"/> (none: decode the generated ids alone).</summary>
    /// <param name="tokenizer">Decodes the ids; kept for the streamer's life.</param>
    /// <param name="context">The ids the generation continues (the prompt's), or null.</param>
    public TextStreamer(ITokenizer tokenizer, IReadOnlyList<int>? context = null)
    {
        _tokenizer = tokenizer;
        _ids = [.. context ?? []];
        _contextCount = _ids.Count;
        _contextText = tokenizer.Decode(_ids);
        _emitted = _contextText;
    }

    /// <summary>Adds one id; returns the new text to print (possibly empty).</summary>
    public string Push(int id)
    {
        _ids.Add(id);
        var text = _tokenizer.Decode(_ids);
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
        var text = _tokenizer.Decode(_ids);
        if (!text.StartsWith(_emitted, StringComparison.Ordinal)) return "";
        var rest = text[_emitted.Length..];
        _emitted = text;
        return rest;
    }

    /// <summary>The text of everything generated so far, as it continues the context.</summary>
    public string Text => Continuation(_tokenizer, _ids.Take(_contextCount).ToList(), _ids.Skip(_contextCount).ToList());

    /// <summary>
    /// The text <paramref name="generated"/> adds after <paramref name="context"/>: the decoded whole sequence minus the
    /// decoded context, so a leading space of the first generated token is kept. Falls back to decoding the generated
    /// ids alone when the decoded context is not a prefix of the whole (a decoder that rewrites earlier text).
    /// </summary>
    public static string Continuation(ITokenizer tokenizer, IReadOnlyList<int> context, IReadOnlyList<int> generated)
    {
        var head = tokenizer.Decode(context);
        var whole = tokenizer.Decode(context.Concat(generated));
        return whole.StartsWith(head, StringComparison.Ordinal) ? whole[head.Length..] : tokenizer.Decode(generated);
    }
}
