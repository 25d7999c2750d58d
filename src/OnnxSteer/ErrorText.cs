using System.Globalization;
using System.Runtime.CompilerServices;

namespace OnnxSteer;

/// <summary>
/// A message of the library: plain words and mentions of the library parameters it is about
/// (<see cref="ErrorText.Param"/>). The library prints a mention as the parameter's name (<c>alpha</c>); a front end
/// renders it in its own terms (the CLI as the option, <c>--alpha</c>), so the library never needs to know its callers'
/// flags. Two kinds: <see cref="ErrorText"/>, the text of an <see cref="OnnxSteerException"/>, and
/// <see cref="WarningText"/>, a warning or a note the library reports and goes on. Both are written as interpolated
/// strings: <c>$"{Param("k")} {k}: must be at least 1"</c>; a conditional of interpolated strings (<c>c ? $"…" : $"…"</c>)
/// is a plain string and keeps only the names. Values are formatted with the invariant culture, so a message reads the
/// same on every machine.
/// </summary>
public abstract class LibraryText
{
    private readonly List<object> _parts = [];

    private protected LibraryText() { }

    private protected LibraryText(string text) => _parts.Add(text);

    private protected LibraryText(LibraryText text) => _parts.AddRange(text._parts);

    /// <summary>The parameters this text mentions, in order.</summary>
    public IReadOnlyList<string> Parameters => _parts.OfType<ParameterName>().Select(p => p.Name).ToList();

    /// <summary>The text with each mention written by <paramref name="parameter"/> (null: as its name).</summary>
    public string Render(Func<string, string>? parameter) =>
        string.Concat(_parts.Select(p => p is ParameterName n ? parameter?.Invoke(n.Name) ?? n.Name : (string)p));

    /// <summary>The text with each parameter written as its name.</summary>
    public override string ToString() => Render(null);

    /// <summary>Used by the compiler for interpolated strings.</summary>
    public void AppendLiteral(string text) => _parts.Add(text);

    /// <summary>Used by the compiler: a <see cref="ParameterName"/> or another <see cref="LibraryText"/> keeps its
    /// mentions; anything else is formatted as invariant string interpolation would.</summary>
    public void AppendFormatted<T>(T value) => AppendFormatted(value, 0, null);

    /// <inheritdoc cref="AppendFormatted{T}(T)"/>
    public void AppendFormatted<T>(T value, string? format) => AppendFormatted(value, 0, format);

    /// <inheritdoc cref="AppendFormatted{T}(T)"/>
    public void AppendFormatted<T>(T value, int alignment) => AppendFormatted(value, alignment, null);

    /// <inheritdoc cref="AppendFormatted{T}(T)"/>
    public void AppendFormatted<T>(T value, int alignment, string? format)
    {
        switch (value)
        {
            case ParameterName p: _parts.Add(p); return;
            case LibraryText t: _parts.AddRange(t._parts); return;
        }
        var text = value is IFormattable f ? f.ToString(format, CultureInfo.InvariantCulture) : value?.ToString() ?? "";
        _parts.Add(alignment >= 0 ? text.PadLeft(alignment) : text.PadRight(-alignment));
    }
}

/// <summary>
/// The text of an <see cref="OnnxSteerException"/> (see <see cref="LibraryText"/>). Pass it straight to the exception
/// or assign it to an <see cref="ErrorText"/>.
/// </summary>
[InterpolatedStringHandler]
public sealed class ErrorText : LibraryText
{
    /// <summary>Used by the compiler for interpolated strings.</summary>
    public ErrorText(int literalLength, int formattedCount) { }

    private ErrorText(string text) : base(text) { }

    /// <summary>A message with no parameter mentions.</summary>
    public static implicit operator ErrorText(string text) => new(text);

    /// <summary>A mention of the parameter <paramref name="name"/> (its C# name, e.g. <c>alpha</c>), in an
    /// <see cref="ErrorText"/> or a <see cref="WarningText"/>.</summary>
    public static ParameterName Param(string name) => new(name);
}

/// <summary>
/// A warning or a note the library reports and goes on (see <see cref="LibraryText"/>): the <c>Warnings</c> of a result
/// and the lines a <c>Notice</c> callback receives, apart from the errors it throws.
/// </summary>
[InterpolatedStringHandler]
public sealed class WarningText : LibraryText
{
    /// <summary>Used by the compiler for interpolated strings.</summary>
    public WarningText(int literalLength, int formattedCount) { }

    private WarningText(string text) : base(text) { }

    private WarningText(LibraryText text) : base(text) { }

    /// <summary>A warning with no parameter mentions.</summary>
    public static implicit operator WarningText(string text) => new(text);

    /// <summary>The words of <paramref name="text"/> (an error the caller chose to go on after) as a warning, its
    /// mentions kept.</summary>
    public static WarningText From(LibraryText text) => new(text);
}

/// <summary>A library parameter named inside a <see cref="LibraryText"/>.</summary>
/// <param name="Name">The parameter's C# name, e.g. <c>alpha</c>.</param>
public readonly record struct ParameterName(string Name)
{
    /// <summary>The parameter's C# name.</summary>
    public override string ToString() => Name;
}
