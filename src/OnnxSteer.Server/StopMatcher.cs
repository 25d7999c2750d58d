namespace OnnxSteer.Server;

/// <summary>
/// Applies a request's stop strings to text arriving piece by piece: text that might be the start of a stop string is
/// held back until it is known not to be, and the text ends before the first stop string found (which is not returned).
/// </summary>
public sealed class StopMatcher(IReadOnlyList<string> stops)
{
    private string _text = "";
    private int _emitted;

    /// <summary>Whether a stop string was found; no more text follows.</summary>
    public bool Stopped { get; private set; }

    /// <summary>All text released so far.</summary>
    public string Text => _text[.._emitted];

    /// <summary>Adds <paramref name="piece"/>; returns the text now safe to send.</summary>
    public string Push(string piece)
    {
        if (Stopped) return "";
        _text += piece;
        var cut = -1;
        foreach (var stop in stops)
        {
            var at = _text.IndexOf(stop, Math.Max(0, _emitted - stop.Length + 1), StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0)
        {
            Stopped = true;
            _text = _text[..cut];
            return Release(cut);
        }
        return Release(_text.Length - HeldBack());
    }

    /// <summary>Releases the held-back text at the end of generation.</summary>
    public string Flush() => Stopped ? "" : Release(_text.Length);

    /// <summary>Length of the longest end of the text that begins some stop string.</summary>
    private int HeldBack()
    {
        var held = 0;
        foreach (var stop in stops)
            for (var n = Math.Min(stop.Length - 1, _text.Length - _emitted); n > held; n--)
                if (_text.AsSpan(_text.Length - n).SequenceEqual(stop.AsSpan(0, n))) { held = n; break; }
        return held;
    }

    private string Release(int upTo)
    {
        var piece = _text[_emitted..upTo];
        _emitted = upTo;
        return piece;
    }
}
