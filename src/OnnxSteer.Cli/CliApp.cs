using System.CommandLine;
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
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("onnxsteer — steer language models by rewriting their ONNX graphs (AUSteer).");
        root.Options.Add(CommandRunner.Verbose);
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
        // Usage mistakes get the documented exit code and one line each, not System.CommandLine's default of 1.
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) Console.Error.WriteLine($"onnxsteer: error: {error.Message}");
            var name = parse.CommandResult.Command.Name;
            Console.Error.WriteLine($"Try 'onnxsteer {(parse.CommandResult.Command == root ? "" : name + " ")}--help'.");
            return ExitCodes.Usage;
        }
        return await parse.InvokeAsync();
    }
}
