using Google.Protobuf;
using OnnxSteer.Cli.Reports;
using OnnxSteer.Diffing;
using OnnxSteer.ModelFiles;
using Xunit;

namespace OnnxSteer.Tests.Diffing;

/// <summary>
/// Regression snapshots: the committed fixtures in graphs/diff/ diffed against base.onnx must give exactly the committed
/// summaries (<c>NAME.expected.json</c> and <c>NAME.expected.txt</c>), which are the diff's own earlier output. They catch
/// a change, not a wrong summary; the independent checks of the diff are listed in graphs/diff/README.md (the two
/// last tests here among them). Set ONNXSTEER_UPDATE_GOLDEN=1 to rewrite fixtures and expectations after an intended
/// change, then review the git diff; CI=true ignores it and fails the snapshot test.
/// </summary>
public class GoldenDiffTests
{
    private static bool UpdateRequested => Environment.GetEnvironmentVariable("ONNXSTEER_UPDATE_GOLDEN") == "1";

    // Rewriting the snapshots makes the comparison pass by construction: never under CI.
    private static bool Update => UpdateRequested && !Infrastructure.Requirements.InCi;

    static GoldenDiffTests()
    {
        if (!Update) return;
        Directory.CreateDirectory(DiffFixtures.Folder);
        foreach (var (name, proto) in DiffFixtures.All())
            File.WriteAllBytes(FixturePath(name), proto.ToByteArray());
        foreach (var name in DiffFixtures.All().Keys.Where(k => k != "base"))
        {
            var report = Diff(name);
            File.WriteAllText(Path.Combine(DiffFixtures.Folder, name + ".expected.json"), DiffJson.Serialize(report));
            File.WriteAllText(Path.Combine(DiffFixtures.Folder, name + ".expected.txt"), Text(report));
        }
    }

    private static string FixturePath(string name) => Path.Combine(DiffFixtures.Folder, name + ".onnx");

    private static DiffReport Diff(string name) =>
        ModelDiffer.Compare(OnnxModel.Load(FixturePath("base")), OnnxModel.Load(FixturePath(name)), "base.onnx", name + ".onnx");

    private static string Text(DiffReport report) => string.Join("\n", DiffText.Render(report).Select(l => l.Text)) + "\n";

    public static IEnumerable<object[]> Variants() => DiffFixtures.Variants();

    /// <summary>
    /// Fixtures built here must match byte for byte; those the patcher makes must keep the same graph (their metadata
    /// carries the patcher's version and record format, which may evolve without changing what the diff reads).
    /// </summary>
    [Fact]
    public void Committed_fixtures_are_what_the_builder_makes_and_stay_small()
    {
        foreach (var (name, proto) in DiffFixtures.All())
        {
            var committed = File.ReadAllBytes(FixturePath(name));
            Assert.True(committed.Length < 50_000, $"{name}.onnx is {committed.Length} bytes");
            var hint = $"graphs/diff/{name}.onnx differs from DiffFixtures (rebuild with ONNXSTEER_UPDATE_GOLDEN=1 and review)";
            if (DiffFixtures.MadeByThePatcher.Contains(name))
                Assert.True(Onnx.ModelProto.Parser.ParseFrom(committed).Graph.Equals(proto.Graph), hint);
            else
                Assert.True(committed.AsSpan().SequenceEqual(proto.ToByteArray()), hint);
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Diff_against_base_matches_the_committed_summary(string name)
    {
        Assert.False(UpdateRequested && Infrastructure.Requirements.InCi, "ONNXSTEER_UPDATE_GOLDEN=1 under CI=true: the snapshots would compare with themselves");
        var report = Diff(name);
        Assert.Equal(File.ReadAllText(Path.Combine(DiffFixtures.Folder, name + ".expected.json")), DiffJson.Serialize(report));
        Assert.Equal(File.ReadAllText(Path.Combine(DiffFixtures.Folder, name + ".expected.txt")), Text(report));
    }

    [Theory]
    [InlineData("reordered")]
    [InlineData("unpatched")]
    public void Same_graph_in_another_order_and_patched_then_unpatched_diff_as_identical(string name)
    {
        var report = Diff(name);
        Assert.True(report.Identical, string.Join("\n", DiffText.Render(report).Select(l => l.Text)));
        Assert.Null(report.Steering);
    }

    [Fact]
    public void Steered_model_reports_exactly_the_planned_units_and_nothing_else()
    {
        foreach (var name in new[] { "steered", "folded" })
        {
            var s = Diff(name).Steering;
            Assert.NotNull(s);
            Assert.True(s.RestUnchanged, name + ": " + string.Join("; ", s.OtherChanges));
            var found = s.Sites.SelectMany(site => site.Units.Select(u => (site.Kind, site.Layer, u.Index, Gamma: u.Gamma!.Value))).OrderBy(x => x).ToList();
            var planned = DiffFixtures.SteeredUnits.Select(u => (Kind: OnnxSteer.Sites.SiteKinds.ToName(u.Kind), u.Layer, u.Index, u.Gamma)).OrderBy(x => x).ToList();
            Assert.Equal(planned.Count, found.Count);
            for (var i = 0; i < planned.Count; i++)
            {
                Assert.Equal((planned[i].Kind, planned[i].Layer, planned[i].Index), (found[i].Kind, found[i].Layer, found[i].Index));
                // Node patches store 1 + gamma in float32; folds recover it as a ratio of float32 weights: both within 1e-6.
                Assert.InRange(found[i].Gamma, planned[i].Gamma - 1e-6, planned[i].Gamma + 1e-6);
            }
        }
    }

    [Fact]
    public void Steering_plus_an_unrelated_edit_names_the_edit()
    {
        var s = Diff("steered-edited").Steering!;
        Assert.False(s.RestUnchanged);
        Assert.Equal(["initializer 'lm_head.weight' changed"], s.OtherChanges);
    }
}
