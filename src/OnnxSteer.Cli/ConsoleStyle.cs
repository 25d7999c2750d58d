using Spectre.Console;

namespace OnnxSteer.Cli;

/// <summary>
/// Whether output may carry ANSI escapes (colour, bold, cursor movement). Output is plain when it is not a terminal,
/// when <c>NO_COLOR</c> is set to a non-empty value (no-color.org), or with the global <c>--no-color</c> flag; so a
/// file or a pipe never receives escape codes, whatever TERM says.
/// </summary>
public static class ConsoleStyle
{
    /// <summary>The environment variable of no-color.org.</summary>
    public const string NoColorVariable = "NO_COLOR";

    /// <summary>Set once at start-up from <c>--no-color</c>.</summary>
    public static bool NoColorFlag { get; set; }

    /// <summary>True when the user asked for no colour (flag or NO_COLOR), whether or not output is a terminal.</summary>
    public static bool NoColorRequested => NoColorFlag || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(NoColorVariable));

    /// <summary>True when stdout must be plain text.</summary>
    public static bool PlainOut => NoColorRequested || Console.IsOutputRedirected;

    /// <summary>True when stderr must be plain text.</summary>
    public static bool PlainError => NoColorRequested || Console.IsErrorRedirected;

    /// <summary>A Spectre console writing to <paramref name="writer"/>, with escapes only when <paramref name="plain"/> is false.</summary>
    public static IAnsiConsole Create(TextWriter writer, bool plain) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(writer),
        Ansi = plain ? AnsiSupport.No : AnsiSupport.Detect,
        ColorSystem = plain ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        Interactive = plain ? InteractionSupport.No : InteractionSupport.Detect,
    });

    /// <summary>
    /// A Spectre console on stderr that can redraw a progress bar: only when stderr is an interactive terminal and
    /// colour is not turned off (NO_COLOR or --no-color give plain progress lines, as a pipe does); else null.
    /// </summary>
    public static IAnsiConsole? InteractiveError()
    {
        if (PlainError) return null;
        var console = Create(Console.Error, plain: false);
        return console.Profile.Capabilities.Interactive ? console : null;
    }

    /// <summary>Points <see cref="AnsiConsole"/> (used by the commands' tables) at stdout under the rule above.</summary>
    public static void Configure()
    {
        // Without ANSI, Spectre falls back to System.Console colours, and .NET then writes its own reset codes to a
        // terminal unless NO_COLOR is set: so --no-color sets it for this process (and anything it starts).
        if (NoColorFlag) Environment.SetEnvironmentVariable(NoColorVariable, "1");
        AnsiConsole.Console = Create(Console.Out, PlainOut);
    }
}
