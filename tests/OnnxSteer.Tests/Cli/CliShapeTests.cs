using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using OnnxSteer.Cli;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Cli;

/// <summary>
/// The shape of the CLI (issue 28 item 3): no method, constructor, accessor, local function or lambda in
/// src/OnnxSteer.Cli longer than 30 lines; handlers write to the streams they are given, never to the console; and the
/// explicit command list is the one docs/cli.md documents.
/// </summary>
public sealed class CliShapeTests
{
    private const int MaxLines = 30;

    private static string CliSource => Path.Combine(SharedData.RepoRoot, "src", "OnnxSteer.Cli");

    /// <summary>Every .cs file of the CLI project (not bin/ or obj/).</summary>
    private static List<string> CliFiles() => Directory.EnumerateFiles(CliSource, "*.cs", SearchOption.AllDirectories)
        .Where(f => !Path.GetRelativePath(CliSource, f).Split(Path.DirectorySeparatorChar).Any(d => d is "bin" or "obj"))
        .Order(StringComparer.Ordinal).ToList();

    /// <summary>Each body-carrying member of <paramref name="source"/> longer than <paramref name="max"/> lines, as "name (N lines, line L)".</summary>
    internal static List<string> LongMembers(string source, int max)
    {
        var root = CSharpSyntaxTree.ParseText(source).GetRoot();
        return root.DescendantNodes()
            .Where(n => n is BaseMethodDeclarationSyntax or LocalFunctionStatementSyntax or AccessorDeclarationSyntax or AnonymousFunctionExpressionSyntax
                || n is PropertyDeclarationSyntax { ExpressionBody: not null })
            .Select(n => (Node: n, Span: n.GetLocation().GetLineSpan()))
            .Select(x => (x.Node, Lines: x.Span.EndLinePosition.Line - x.Span.StartLinePosition.Line + 1, Line: x.Span.StartLinePosition.Line + 1))
            .Where(x => x.Lines > max)
            .Select(x => $"{Name(x.Node)} ({x.Lines} lines, line {x.Line})").ToList();
    }

    private static string Name(SyntaxNode node) => node switch
    {
        MethodDeclarationSyntax m => m.Identifier.Text,
        ConstructorDeclarationSyntax c => c.Identifier.Text + " (constructor)",
        LocalFunctionStatementSyntax l => l.Identifier.Text + " (local function)",
        PropertyDeclarationSyntax p => p.Identifier.Text,
        AccessorDeclarationSyntax a => $"{a.Keyword.Text} accessor",
        AnonymousFunctionExpressionSyntax => $"lambda in {node.Ancestors().OfType<MemberDeclarationSyntax>().Select(Member).FirstOrDefault() ?? "?"}",
        _ => node.Kind().ToString(),
    };

    private static string? Member(MemberDeclarationSyntax member) => member switch
    {
        MethodDeclarationSyntax m => m.Identifier.Text,
        FieldDeclarationSyntax f => f.Declaration.Variables.First().Identifier.Text,
        PropertyDeclarationSyntax p => p.Identifier.Text,
        BaseTypeDeclarationSyntax t => t.Identifier.Text,
        _ => null,
    };

    [Fact]
    public void No_CLI_method_is_longer_than_30_lines()
    {
        var files = CliFiles();
        Assert.True(files.Count >= 25, $"only {files.Count} files under {CliSource}");
        var failures = new List<string>();
        foreach (var file in files)
        {
            var found = LongMembers(File.ReadAllText(file), MaxLines);
            failures.AddRange(found.Select(m => $"{Path.GetRelativePath(CliSource, file)}: {m}"));
        }
        Assert.True(failures.Count == 0, $"CLI members over {MaxLines} lines:\n" + string.Join('\n', failures));
    }

    [Fact]
    public void The_length_rule_sees_methods_constructors_accessors_local_functions_and_lambdas()
    {
        static string Lines(int n) => string.Concat(Enumerable.Range(0, n).Select(i => $"        x += {i};\n"));
        var source = $$"""
            class C
            {
                int x;
                void Long() {
            {{Lines(29)}}    }
                void Fits() {
            {{Lines(28)}}    }
                C() {
            {{Lines(29)}}    }
                int P { get {
            {{Lines(29)}}    return x; } }
                System.Action Field = () => {
            {{Lines(29)}}    };
                void Outer() { void Inner() {
            {{Lines(29)}}    } }
            }
            """;
        var found = LongMembers(source.Replace("x += ", "int y = "), MaxLines);
        Assert.Contains(found, f => f.StartsWith("Long (31 lines", StringComparison.Ordinal));
        Assert.DoesNotContain(found, f => f.StartsWith("Fits", StringComparison.Ordinal));
        Assert.Contains(found, f => f.StartsWith("C (constructor)", StringComparison.Ordinal));
        Assert.Contains(found, f => f.StartsWith("get accessor", StringComparison.Ordinal));
        Assert.Contains(found, f => f.StartsWith("lambda in Field", StringComparison.Ordinal));
        Assert.Contains(found, f => f.StartsWith("Inner (local function)", StringComparison.Ordinal));
        Assert.Contains(found, f => f.StartsWith("Outer", StringComparison.Ordinal));
    }

    /// <summary>Uses of System.Console or Spectre's AnsiConsole in <paramref name="source"/>, as "Console.Out (line L)".</summary>
    internal static List<string> ConsoleUses(string source) =>
        CSharpSyntaxTree.ParseText(source).GetRoot().DescendantNodes().OfType<MemberAccessExpressionSyntax>()
            .Where(m => m.Expression is IdentifierNameSyntax { Identifier.Text: "Console" or "AnsiConsole" }
                || m.Expression.ToString() is "System.Console" or "Spectre.Console.AnsiConsole")
            .Select(m => $"{m} (line {m.GetLocation().GetLineSpan().StartLinePosition.Line + 1})").ToList();

    [Fact]
    public void Command_handlers_write_to_the_streams_they_are_given_not_to_the_console()
    {
        Assert.Single(ConsoleUses("class C { void M() { System.Console.WriteLine(1); } }"));
        Assert.Single(ConsoleUses("class C { void M() { AnsiConsole.Write(t); } }"));
        var failures = new List<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(CliSource, "Commands"), "*.cs").Order(StringComparer.Ordinal))
        {
            failures.AddRange(ConsoleUses(File.ReadAllText(file)).Select(u => $"{Path.GetFileName(file)}: {u}"));
        }
        Assert.True(failures.Count == 0, "handlers writing to the console instead of CommandIo:\n" + string.Join('\n', failures));
    }

    [Fact]
    public void The_command_list_is_the_one_docs_cli_md_documents_and_holds_every_command_class()
    {
        var listed = CliApp.Commands().Select(c => c.Build().Name).ToList();
        Assert.Equal(listed.Count, listed.Distinct(StringComparer.Ordinal).Count());
        var documented = File.ReadLines(Path.Combine(SharedData.RepoRoot, "docs", "cli.md"))
            .Where(l => l.StartsWith("## onnxsteer ", StringComparison.Ordinal))
            .Select(l => l["## onnxsteer ".Length..].Split(' ')[0]).Distinct(StringComparer.Ordinal);
        Assert.Equal(documented.Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));

        // A command class written but left out of the list would be dead code: every one is reachable from the list.
        IEnumerable<Type> Reachable(ICliCommand c) => c is CommandGroup g ? g.Members.SelectMany(Reachable).Prepend(c.GetType()) : [c.GetType()];
        var reachable = CliApp.Commands().SelectMany(Reachable).ToHashSet();
        var classes = typeof(CliApp).Assembly.GetTypes()
            .Where(t => typeof(ICliCommand).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false } && t != typeof(CommandGroup));
        Assert.Empty(classes.Where(t => !reachable.Contains(t)).Select(t => t.Name));
    }
}
