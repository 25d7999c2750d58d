using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using OnnxSteer.ModelFiles;
using OnnxSteer.Pairs;
using OnnxSteer.Patching;
using OnnxSteer.ProfileRuns;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Docs;

/// <summary>
/// The README's C# example is this file's <see cref="Example"/>, line for line (a test compares them), and it runs
/// here on stories260K: so the front door shown to users compiles and does what the README says.
/// </summary>
public sealed class ReadmeExampleTests
{
    private static void Example(string modelDir, string steeredDir)
    {
        // README begin
        var pairs = new[]
        {
            new ContrastivePair("Lily played with a ball all day. At the end of the day Lily felt very", " happy", " sad"),
            new ContrastivePair("Tom got a new red bike. Tom was so", " happy", " sad"),
        };
        var profile = Steerer.Profile(modelDir, pairs, new ProfileSettings { K = 8, Alpha = 2, Sites = [SiteKind.Mlp] });
        Steerer.Patch(modelDir, profile, steeredDir);
        // README end
    }

    [Fact]
    public void The_readme_shows_exactly_the_example_this_file_runs()
    {
        var readme = File.ReadAllText(Path.Combine(SharedData.RepoRoot, "README.md"));
        var block = Regex.Match(readme, "```csharp\n(.*?)```", RegexOptions.Singleline);
        Assert.True(block.Success, "README.md has no ```csharp block");
        var shown = Statements(block.Groups[1].Value.Split('\n').Where(l => !l.StartsWith("using ")));

        var source = File.ReadAllText(Path.Combine(SharedData.RepoRoot, "tests", "OnnxSteer.Tests", "Docs", "ReadmeExampleTests.cs"));
        var here = Regex.Match(source, "// README begin\n(.*?)// README end", RegexOptions.Singleline).Groups[1].Value;
        Assert.Equal(Statements(here.Split('\n')), shown);
    }

    [SharedFact]
    public void The_example_profiles_and_writes_a_model_steered_at_eight_mlp_units()
    {
        var model = ImportedModels.Get("genai", "fp32");
        var steered = Path.Combine(Path.GetTempPath(), $"onnxsteer-readme-{Guid.NewGuid():N}");
        try
        {
            Example(model, steered);
            var written = OnnxModel.Load(Path.Combine(steered, "model.onnx"));
            var step = Assert.Single(SteeringMetadata.Read(written.Proto, "README example"));
            Assert.Equal("austeer", step.Method);
            Assert.All(step.Sites, s => Assert.StartsWith("mlp.", s));
            var scales = written.Proto.Graph.Initializer.Where(t => t.Name.EndsWith("/steer.scale")).ToList();
            Assert.NotEmpty(scales);
            var steeredUnits = scales.Sum(t => TensorData.ReadFloats(t, written).Count(v => v != 1f));
            Assert.Equal(8, steeredUnits);
        }
        finally { if (Directory.Exists(steered)) Directory.Delete(steered, recursive: true); }
    }

    [Fact]
    public void The_readme_example_compiles_against_the_public_api_alone()
    {
        var readme = File.ReadAllText(Path.Combine(SharedData.RepoRoot, "README.md"));
        var lines = Regex.Match(readme, "```csharp\n(.*?)```", RegexOptions.Singleline).Groups[1].Value.Split('\n');
        var usings = string.Join("\n", lines.Where(l => l.StartsWith("using ")));
        var body = string.Join("\n", lines.Where(l => !l.StartsWith("using ")));
        Assert.Empty(CompileAsAUser(usings, body));

        // The same compilation refuses what only the tests may see, so passing above means public types only.
        var refused = CompileAsAUser("using OnnxSteer.ModelFiles;", "OnnxModel.Load(modelDir);");
        Assert.Contains(refused, e => e.Contains("CS0122"));
    }

    [Fact]
    public void The_library_guides_examples_compile_against_the_public_api_alone()
    {
        var guide = File.ReadAllText(Path.Combine(SharedData.RepoRoot, "docs", "library.md"));
        var blocks = Regex.Matches(guide, "```csharp\n(.*?)```", RegexOptions.Singleline).Select(m => m.Groups[1].Value).ToList();
        Assert.True(blocks.Count >= 2, $"docs/library.md shows {blocks.Count} C# examples; the front door and Steer were expected");
        // The guide's blocks read as one program: the first makes the profile the later ones steer with.
        const string usings = "using OnnxSteer;\nusing OnnxSteer.Pairs;\nusing OnnxSteer.ProfileRuns;\nusing OnnxSteer.Sites;";
        var errors = CompileAsAUser(usings, "var pairs = System.Array.Empty<ContrastivePair>();\n" + string.Join("\n", blocks));
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    /// <summary>
    /// Errors from compiling <paramref name="body"/> as a method of a user's assembly that references the library:
    /// its name is not in the library's InternalsVisibleTo, so only the public API binds.
    /// </summary>
    private static List<string> CompileAsAUser(string usings, string body)
    {
        var source = $"{usings}\nstatic class UserCode\n{{\n    static void Run(string modelDir, string steeredDir)\n    {{\n{body}\n    }}\n}}\n";
        var library = typeof(Steerer).Assembly;
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetDirectoryName(p) == Path.GetDirectoryName(typeof(object).Assembly.Location))
            .Append(library.Location)
            .Concat(library.GetReferencedAssemblies().Select(n => System.Reflection.Assembly.Load(n).Location))
            .Distinct()
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create("UserCode", [CSharpSyntaxTree.ParseText(source)], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        using var image = new MemoryStream();
        return compilation.Emit(image).Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();
    }

    private static List<string> Statements(IEnumerable<string> lines) =>
        lines.Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
}
