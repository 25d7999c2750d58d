using System.CommandLine;

namespace OnnxSteer.Cli;

/// <summary>
/// Earlier spellings of renamed options (one name per idea across commands, issue 30), still accepted so that scripts
/// keep working, but hidden from --help and docs/cli.md.
/// </summary>
internal static class OldNames
{
    /// <summary>A hidden option <paramref name="oldName"/> taking the same value as <paramref name="current"/>; add it to the command too.</summary>
    public static Option<T> For<T>(Option<T> current, string oldName) => new(oldName)
    {
        Hidden = true,
        Description = $"Old name of {current.Name}.",
        HelpName = current.HelpName,
        Arity = current.Arity,
    };

    /// <summary>The value given under the old name when only it was given, else the current option's (or its default).</summary>
    public static T? Value<T>(ParseResult parse, Option<T> current, Option<T> old)
    {
        var given = parse.GetResult(current);
        var oldGiven = parse.GetResult(old);
        if (given is { Implicit: false } && oldGiven is { Implicit: false })
            throw new CommandLineException($"{current.Name} and {old.Name} are the same option (its old name); give it once", ExitCodes.Usage);
        return oldGiven is { Implicit: false } ? parse.GetValue(old) : parse.GetValue(current);
    }
}
