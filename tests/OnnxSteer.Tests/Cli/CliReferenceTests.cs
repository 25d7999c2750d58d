using OnnxSteer.Cli;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Cli;

/// <summary>docs/cli.md is the command tree's own help text: it fails when a command or option changed without it.</summary>
public class CliReferenceTests
{
    /// <summary>Set to 1 (as <c>make docs</c> does) to rewrite docs/cli.md instead of comparing.</summary>
    private const string UpdateVariable = "ONNXSTEER_UPDATE_DOCS";

    [Fact]
    public void Docs_cli_md_matches_the_commands_help()
    {
        var path = Path.Combine(SharedData.RepoRoot, "docs", "cli.md");
        var expected = CliReference.Markdown(CliApp.BuildRoot());
        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, expected);
        }
        Assert.True(File.Exists(path), $"{path} is missing: run `make docs`");
        var actual = File.ReadAllText(path);
        Assert.True(expected == actual, $"{path} is out of date with the commands' --help: run `make docs` and commit it");

        // Every command is documented, with every one of its options.
        var root = CliApp.BuildRoot();
        foreach (var command in root.Subcommands)
        {
            Assert.Contains($"## onnxsteer {command.Name}", actual);
            Assert.False(string.IsNullOrWhiteSpace(command.Description), $"{command.Name} has no description");
            foreach (var option in command.Options.Where(o => !o.Hidden))
                Assert.False(string.IsNullOrWhiteSpace(option.Description), $"{command.Name} {option.Name} has no description");
        }
    }
}
