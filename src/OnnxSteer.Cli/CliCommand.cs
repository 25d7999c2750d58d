using System.CommandLine;

namespace OnnxSteer.Cli;

/// <summary>A subcommand of <c>onnxsteer</c>, listed in <see cref="CliApp.Commands"/>.</summary>
public interface ICliCommand
{
    /// <summary>Builds the System.CommandLine command, with its options, help text and action.</summary>
    Command Build();
}

/// <summary>
/// A command in three small steps: <see cref="Declare"/> says what the command line holds (its options are fields of
/// the subclass, declared once), <see cref="Bind"/> turns a parse into <typeparamref name="TOptions"/>, and
/// <see cref="Run"/>, the handler, does the work with those values, writing only to the streams it is given and
/// returning the exit code. Errors thrown by any step become one line and an exit code (<see cref="CommandRunner"/>).
/// </summary>
/// <typeparam name="TOptions">The parsed command line, as the handler takes it.</typeparam>
public abstract class CliCommand<TOptions> : ICliCommand
{
    /// <inheritdoc/>
    public Command Build()
    {
        var command = Declare();
        command.SetAction(parse => CommandRunner.Run(parse, io => Run(Bind(parse), io)));
        return command;
    }

    /// <summary>The command with its arguments and options, without an action.</summary>
    protected abstract Command Declare();

    /// <summary>The values the handler needs, read from <paramref name="parse"/>; checks that need no file go here.</summary>
    protected abstract TOptions Bind(ParseResult parse);

    /// <summary>The handler: does the work, writes to <paramref name="io"/>, returns the exit code (docs/errors.md).</summary>
    public abstract int Run(TOptions options, CommandIo io);

    /// <summary>A command named <paramref name="name"/> holding <paramref name="symbols"/> (arguments and options, in help order).</summary>
    protected static Command Define(string name, string description, params Symbol[] symbols)
    {
        var command = new Command(name, description);
        foreach (var symbol in symbols)
        {
            if (symbol is Argument argument) command.Arguments.Add(argument);
            else if (symbol is Option option) command.Options.Add(option);
        }
        return command;
    }
}

/// <summary>A command that only groups others (<c>import llama2c</c>, <c>synth llama</c>).</summary>
public sealed class CommandGroup(string name, string description, params ICliCommand[] members) : ICliCommand
{
    /// <summary>The commands under this one.</summary>
    public IReadOnlyList<ICliCommand> Members { get; } = members;

    /// <inheritdoc/>
    public Command Build()
    {
        var group = new Command(name, description);
        foreach (var member in Members) group.Subcommands.Add(member.Build());
        return group;
    }
}
