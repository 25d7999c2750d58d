using System.CommandLine;
using System.CommandLine.Help;
using OnnxSteer.Cli.Commands;

namespace OnnxSteer.Cli;

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
        foreach (var command in Commands().Select(c => c.Build()).OrderBy(c => c.Name, StringComparer.Ordinal)) root.Subcommands.Add(command);
        return root;
    }

    /// <summary>Every subcommand of <c>onnxsteer</c>: a new command is added here (a test checks this list against docs/cli.md).</summary>
    public static IReadOnlyList<ICliCommand> Commands() =>
    [
        new AdapterCommand(), new CompareCommand(), new DiffCommand(), new EvalCommand(), new ExportCommand(),
        new GenerateCommand(), ImportCommand.Group(), new ImportVectorCommand(), new InspectCommand(), new MergeCommand(),
        new PatchCommand(), new ProfileCommand(), new RepackCommand(), new SelectCommand(), new ServeCommand(),
        new SweepCommand(), SynthCommand.Group(), new UnpatchCommand(),
    ];

    public static async Task<int> RunAsync(string[] args)
    {
        var root = BuildRoot();
        var parse = root.Parse(args);
        ConsoleStyle.NoColorFlag = args.Contains(NoColor.Name);
        ConsoleStyle.Configure();
        // Usage mistakes get the documented exit code and one line each, not System.CommandLine's default of 1.
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) Console.Error.WriteLine($"onnxsteer: error: {OneLine(error)}{DidYouMean(error, parse.CommandResult.Command)}");
            var name = parse.CommandResult.Command.Name;
            Console.Error.WriteLine($"Try 'onnxsteer {(parse.CommandResult.Command == root ? "" : name + " ")}--help'.");
            return ExitCodes.Usage;
        }
        return await parse.InvokeAsync();
    }

    /// <summary>" (did you mean --alpha?)" for an unknown option within two edits of one of the command's; else "".</summary>
    private static string DidYouMean(System.CommandLine.Parsing.ParseError error, Command command)
    {
        var m = System.Text.RegularExpressions.Regex.Match(error.Message, "Unrecognized command or argument '(--?[^']+)'");
        if (!m.Success) return "";
        var typed = m.Groups[1].Value;
        var best = command.Options.Where(o => !o.Hidden).SelectMany(o => o.Aliases.Prepend(o.Name))
            .Select(name => (Name: name, Distance: EditDistance(typed, name)))
            .Where(c => c.Distance <= Math.Min(2, c.Name.Length / 3)).OrderBy(c => c.Distance).ThenBy(c => c.Name, StringComparer.Ordinal).FirstOrDefault();
        return best.Name is null ? "" : $" (did you mean {best.Name}?)";
    }

    private static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
            for (var j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }

    /// <summary>
    /// A parse error as one line, naming the option it is about: System.CommandLine lists allowed values one per line
    /// ("Argument 'gpu' not recognized. Must be one of:\n\t'cpu'...") and does not say which option was wrong.
    /// </summary>
    private static string OneLine(System.CommandLine.Parsing.ParseError error)
    {
        var text = System.Text.RegularExpressions.Regex.Replace(error.Message.Trim(), @"\s*\n\s*", " ");
        text = System.Text.RegularExpressions.Regex.Replace(text, "' '", "', '");
        // .NET type names mean nothing to a user: say what kind of value was expected.
        text = System.Text.RegularExpressions.Regex.Replace(text, @"as expected type '([^']*)'", m => m.Groups[1].Value switch
        {
            var t when t.Contains("Int32") || t.Contains("Int64") || t.Contains("UInt64") => "as a whole number",
            var t when t.Contains("Double") || t.Contains("Single") => "as a number",
            var t when t.Contains("Boolean") => "as true or false",
            _ => "as a value of the expected kind",
        });
        return error.SymbolResult is System.CommandLine.Parsing.OptionResult { Option: { } option } && !text.Contains(option.Name, StringComparison.Ordinal)
            ? $"{option.Name}: {text}"
            : text;
    }
}
