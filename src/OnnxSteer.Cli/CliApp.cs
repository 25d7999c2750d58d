using System.CommandLine;
using System.CommandLine.Help;
using System.Reflection;

namespace OnnxSteer.Cli;

/// <summary>A subcommand of <c>onnxsteer</c>. Each command lives in its own file under Commands/ and is found by reflection,
/// so adding a command never touches a shared list.</summary>
public interface ICliCommand
{
    /// <summary>Builds the System.CommandLine command, with its options, help text and action.</summary>
    Command Build();
}

/// <summary>Builds the root command and runs it.</summary>
public static class CliApp
{
    /// <summary>The tool's name, as installed (<c>dotnet tool install</c>) and as errors and usage lines say it.</summary>
    public const string ToolName = "onnxsteer";

    /// <summary>Global <c>--no-color</c>: plain text even on a terminal (see <see cref="ConsoleStyle"/>).</summary>
    public static readonly Option<bool> NoColor = new("--no-color")
    {
        Description = "Plain text without colour or other escape codes, even on a terminal (also: NO_COLOR=1). Output that is not a terminal is always plain.",
        Recursive = true,
    };

    /// <summary>
    /// The root command. Not a System.CommandLine RootCommand: that one is named after the executable (OnnxSteer.Cli
    /// under <c>dotnet OnnxSteer.Cli.dll</c>), and usage lines must say the installed tool's name.
    /// </summary>
    public static Command BuildRoot()
    {
        var root = new Command(ToolName, "onnxsteer — steer language models by rewriting their ONNX graphs (AUSteer).");
        root.Options.Add(new HelpOption());
        root.Options.Add(new VersionOption());
        root.Options.Add(CommandRunner.Verbose);
        root.Options.Add(NoColor);
        var commands = typeof(CliApp).Assembly.GetTypes()
            .Where(t => typeof(ICliCommand).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => ((ICliCommand)Activator.CreateInstance(t)!).Build())
            .OrderBy(c => c.Name, StringComparer.Ordinal);
        foreach (var command in commands) root.Subcommands.Add(command);
        return root;
    }

    public static async Task<int> RunAsync(string[] args)
    {
        var root = BuildRoot();
        var parse = root.Parse(args);
        ConsoleStyle.NoColorFlag = args.Contains(NoColor.Name);
        ConsoleStyle.Configure();
        // Usage mistakes get the documented exit code and one line each, not System.CommandLine's default of 1.
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) Console.Error.WriteLine($"onnxsteer: error: {OneLine(error)}");
            var name = parse.CommandResult.Command.Name;
            Console.Error.WriteLine($"Try 'onnxsteer {(parse.CommandResult.Command == root ? "" : name + " ")}--help'.");
            return ExitCodes.Usage;
        }
        return await parse.InvokeAsync();
    }

    /// <summary>
    /// A parse error as one line, naming the option it is about: System.CommandLine lists allowed values one per line
    /// ("Argument 'gpu' not recognized. Must be one of:\n\t'cpu'...") and does not say which option was wrong.
    /// </summary>
    private static string OneLine(System.CommandLine.Parsing.ParseError error)
    {
        var text = System.Text.RegularExpressions.Regex.Replace(error.Message.Trim(), @"\s*\n\s*", " ");
        text = System.Text.RegularExpressions.Regex.Replace(text, "' '", "', '");
        return error.SymbolResult is System.CommandLine.Parsing.OptionResult { Option: { } option } && !text.Contains(option.Name, StringComparison.Ordinal)
            ? $"{option.Name}: {text}"
            : text;
    }
}
