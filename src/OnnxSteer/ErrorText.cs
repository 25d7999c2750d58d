using System.Globalization;
using System.Runtime.CompilerServices;
using static OnnxSteer.ErrorText;

namespace OnnxSteer;

/// <summary>
/// A message of the library (the text of an <see cref="OnnxSteerException"/>, a warning, a note): plain words and
/// mentions of the library parameters it is about (<see cref="Param"/>). The library prints a mention as the parameter's name (<c>alpha</c>); a front end renders it
/// in its own terms (the CLI as the option, <c>--alpha</c>), so the library never needs to know its callers' flags.
/// Written as an interpolated string: <c>$"{Param("k")} {k}: must be at least 1"</c>. Pass it straight to the exception
/// or assign it to an <see cref="ErrorText"/>: a conditional of interpolated strings (<c>c ? $"…" : $"…"</c>) is a plain
/// string and keeps only the names. Values are formatted with the invariant culture, so a message reads the same on
/// every machine.
/// </summary>
[InterpolatedStringHandler]
public sealed class ErrorText
{
    private readonly List<object> _parts = [];

    /// <summary>Used by the compiler for interpolated strings.</summary>
    public ErrorText(int literalLength, int formattedCount) { }

    private ErrorText(string text) => _parts.Add(text);

    /// <summary>A message with no parameter mentions.</summary>
    public static implicit operator ErrorText(string text) => new(text);

    /// <summary>A mention of the parameter <paramref name="name"/> (its C# name, e.g. <c>alpha</c>).</summary>
    public static ParameterName Param(string name) => new(name);

    /// <summary>The parameters this text mentions, in order.</summary>
    public IReadOnlyList<string> Parameters => _parts.OfType<ParameterName>().Select(p => p.Name).ToList();

    /// <summary>The text with each mention written by <paramref name="parameter"/> (null: as its name).</summary>
    public string Render(Func<string, string>? parameter) =>
        string.Concat(_parts.Select(p => p is ParameterName n ? parameter?.Invoke(n.Name) ?? n.Name : (string)p));

    /// <summary>The text with each parameter written as its name.</summary>
    public override string ToString() => Render(null);

    /// <summary>Used by the compiler for interpolated strings.</summary>
    public void AppendLiteral(string text) => _parts.Add(text);

    /// <summary>Used by the compiler: a <see cref="ParameterName"/> or <see cref="ErrorText"/> keeps its mentions;
    /// anything else is formatted as invariant string interpolation would.</summary>
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
            case ErrorText t: _parts.AddRange(t._parts); return;
        }
        var text = value is IFormattable f ? f.ToString(format, CultureInfo.InvariantCulture) : value?.ToString() ?? "";
        _parts.Add(alignment >= 0 ? text.PadLeft(alignment) : text.PadRight(-alignment));
    }
}

/// <summary>A library parameter named inside an <see cref="ErrorText"/>.</summary>
/// <param name="Name">The parameter's C# name, e.g. <c>alpha</c>.</param>
public readonly record struct ParameterName(string Name)
{
    /// <summary>The parameter's C# name.</summary>
    public override string ToString() => Name;
}
