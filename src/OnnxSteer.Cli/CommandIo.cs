using Spectre.Console;

namespace OnnxSteer.Cli;

/// <summary>
/// Where a command handler writes: results to <see cref="Out"/>, progress, notes, warnings to <see cref="Error"/>.
/// Handlers never touch <see cref="System.Console"/>: the process passes its own streams (<see cref="Process"/>), a
/// test passes <see cref="StringWriter"/>s and reads back what the user would have seen.
/// </summary>
/// <param name="Out">Standard output.</param>
/// <param name="Error">Standard error.</param>
/// <param name="PlainOut">True when <see cref="Out"/> must not carry escape codes (not a terminal, or no colour asked).</param>
/// <param name="ProgressConsole">A console drawing progress bars on the terminal behind <see cref="Error"/>; null: plain progress lines.</param>
public sealed record CommandIo(TextWriter Out, TextWriter Error, bool PlainOut = true, IAnsiConsole? ProgressConsole = null)
{
    /// <summary>The process's stdout and stderr, styled by the rules of <see cref="ConsoleStyle"/>.</summary>
    public static CommandIo Process() =>
        new(Console.Out, Console.Error, ConsoleStyle.PlainOut, ConsoleStyle.InteractiveError());

    /// <summary>A Spectre console over <see cref="Out"/> for tables and markup: plain when <see cref="PlainOut"/>.</summary>
    public IAnsiConsole Styled() => ConsoleStyle.Create(Out, PlainOut);

    /// <summary>A library warning or note, in command-line terms, on <see cref="Error"/>: the handlers' notice callback.</summary>
    public void Notice(WarningText line) => Error.WriteLine(ErrorReporter.Render(line));

    /// <inheritdoc cref="Notice(WarningText)"/>
    public void Notice(LibraryText line) => Error.WriteLine(ErrorReporter.Render(line));
}
