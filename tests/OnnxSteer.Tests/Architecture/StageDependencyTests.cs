using System.Text.RegularExpressions;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Architecture;

/// <summary>
/// Keeps docs/architecture.md true: each stage folder of src/OnnxSteer may name only the stages its row lists.
/// A reference is a <c>using OnnxSteer.X</c>, a qualified <c>OnnxSteer.X.</c>, or <c>X.Type</c> where Type is declared
/// in folder X (so a property that happens to be called <c>Sites</c> is not mistaken for the stage).
/// </summary>
public sealed class StageDependencyTests
{
    private static readonly string Src = Path.Combine(SharedData.RepoRoot, "src", "OnnxSteer");

    [Fact]
    public void Every_stage_folder_uses_only_the_stages_its_row_allows()
    {
        var allowed = ReadTable();
        var stages = StageFolders();
        var typesByStage = stages.ToDictionary(s => s, DeclaredTypes);
        var problems = new List<string>();
        foreach (var stage in stages)
        {
            if (!allowed.TryGetValue(stage, out var may)) { problems.Add($"{stage}: not in docs/architecture.md"); continue; }
            foreach (var file in Directory.EnumerateFiles(Path.Combine(Src, stage), "*.cs", SearchOption.AllDirectories))
            {
                var text = File.ReadAllText(file);
                foreach (var other in stages.Where(o => o != stage && !may.Contains(o)))
                    if (Mentions(text, other, typesByStage[other]) is { } where)
                        problems.Add($"{stage} -> {other}: {Path.GetRelativePath(Src, file)} ({where})");
            }
        }
        Assert.True(problems.Count == 0, "stage references that docs/architecture.md does not allow:\n" + string.Join("\n", problems));
    }

    /// <summary>The front door (root files Steerer*.cs) uses only the stages its row lists, and no stage uses it.</summary>
    [Fact]
    public void The_front_door_uses_only_its_row_and_no_stage_uses_it()
    {
        var allowed = ReadTable();
        Assert.True(allowed.TryGetValue(FrontDoor, out var may), $"docs/architecture.md has no row for the front door ({FrontDoor})");
        var files = Directory.EnumerateFiles(Src, FrontDoor + "*.cs", SearchOption.TopDirectoryOnly).ToList();
        Assert.NotEmpty(files);
        var stages = StageFolders();
        var problems = new List<string>();
        foreach (var file in files)
        {
            var text = File.ReadAllText(file);
            foreach (var other in stages.Where(o => !may.Contains(o)))
                if (Mentions(text, other, DeclaredTypes(other)) is { } where)
                    problems.Add($"{FrontDoor} -> {other}: {Path.GetFileName(file)} ({where})");
        }
        var doorTypes = files.SelectMany(f => TypesIn(File.ReadAllText(f))).ToHashSet();
        foreach (var stage in allowed.Where(r => r.Value.Contains(FrontDoor)).Select(r => r.Key))
            problems.Add($"{stage}: its row lists {FrontDoor}; the front door sits above the stages");
        foreach (var stage in stages)
            foreach (var file in Directory.EnumerateFiles(Path.Combine(Src, stage), "*.cs", SearchOption.AllDirectories))
                if (MentionsAny(File.ReadAllText(file), doorTypes) is { } where)
                    problems.Add($"{stage} -> {FrontDoor}: {Path.GetRelativePath(Src, file)} ({where})");
        Assert.True(problems.Count == 0, "front-door references that docs/architecture.md does not allow:\n" + string.Join("\n", problems));
    }

    [Fact]
    public void The_checker_sees_a_front_door_type_used_unqualified_or_in_a_cref()
    {
        var types = new HashSet<string> { "Steerer", "PatchSettings" };
        Assert.NotNull(MentionsAny("var p = Steerer.Steer(m, prof);", types));
        Assert.NotNull(MentionsAny("/// <see cref=\"PatchSettings\"/>", types));
        Assert.NotNull(MentionsAny("OnnxSteer.Steerer.Load(p)", types));
        Assert.Null(MentionsAny("var s = new SteererState(); var q = x.Steerer; var r = MyPatchSettings.X;", types));
    }

    [Fact]
    public void The_checker_sees_a_qualified_reference_and_ignores_a_property_of_the_same_name()
    {
        var types = new HashSet<string> { "ControlVectorProfiles" };
        Assert.NotNull(Mentions("if (HostFormats.ControlVectorProfiles.IsGguf(p))", "HostFormats", types));
        Assert.NotNull(Mentions("using OnnxSteer.HostFormats;", "HostFormats", types));
        Assert.Null(Mentions("var n = profile.HostFormats.Count; var m = HostFormats.Count;", "HostFormats", types));
        Assert.Null(Mentions("using System.Runtime.InteropServices;", "Runtime", new HashSet<string> { "InteropServices" }));
    }

    /// <summary>The row of the front door; its files are the root files named after it.</summary>
    private const string FrontDoor = "Steerer";

    /// <summary>A use of one of <paramref name="types"/> (root-namespace types need no qualification): the name as a
    /// word, not a member access (<c>x.Steerer</c>) and not part of a longer name.</summary>
    private static string? MentionsAny(string text, ISet<string> types)
    {
        foreach (Match m in Regex.Matches(text, @"(?<![\w])(?:OnnxSteer\.)?([A-Z]\w*)\b"))
        {
            if (!types.Contains(m.Groups[1].Value)) continue;
            var before = m.Index > 0 ? text[m.Index - 1] : ' ';
            if (before == '.') continue;
            return m.Value;
        }
        return null;
    }

    private static string? Mentions(string text, string stage, ISet<string> stageTypes)
    {
        var qualified = Regex.Match(text, $@"\bOnnxSteer\.{stage}\b");
        if (qualified.Success) return qualified.Value;
        foreach (Match m in Regex.Matches(text, $@"(?<![\w.]){stage}\.([A-Z]\w*)"))
            if (stageTypes.Contains(m.Groups[1].Value)) return m.Value;
        return null;
    }

    private static List<string> StageFolders() =>
        Directory.EnumerateDirectories(Src).Select(Path.GetFileName).OfType<string>()
            .Where(d => d is not ("bin" or "obj" or "Proto")).Order(StringComparer.Ordinal).ToList();

    private static HashSet<string> DeclaredTypes(string stage) =>
        Directory.EnumerateFiles(Path.Combine(Src, stage), "*.cs", SearchOption.AllDirectories)
            .SelectMany(f => TypesIn(File.ReadAllText(f))).ToHashSet();

    private static IEnumerable<string> TypesIn(string source) =>
        Regex.Matches(source, @"\b(?:class|struct|record|enum|interface)\s+([A-Z]\w*)").Select(m => m.Groups[1].Value);

    /// <summary>stage → the stages it may use, from the table's rows (a parenthesis after a stage is a comment).</summary>
    private static Dictionary<string, HashSet<string>> ReadTable()
    {
        var rows = new Dictionary<string, HashSet<string>>();
        foreach (var line in File.ReadLines(Path.Combine(SharedData.RepoRoot, "docs", "architecture.md")))
        {
            var cells = line.Split('|');
            if (cells.Length < 5 || !Regex.IsMatch(cells[1].Trim(), @"^[A-Z]\w*$")) continue;
            var may = Regex.Replace(cells[3], @"\([^)]*\)", "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            rows[cells[1].Trim()] = may.ToHashSet();
        }
        return rows;
    }
}
