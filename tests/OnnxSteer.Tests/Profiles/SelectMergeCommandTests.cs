using OnnxSteer.Cli;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using Xunit;
using static OnnxSteer.Tests.Profiles.ProfileFixtures;

namespace OnnxSteer.Tests.Profiles;

public class SelectMergeCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("onnxsteer-select-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static int Run(params string[] args) => CliApp.RunAsync(args).GetAwaiter().GetResult();

    private string Saved(SteeringProfile p, string name)
    {
        var path = Path.Combine(_dir, name);
        p.Save(path);
        return path;
    }

    [Fact]
    public void Select_reselects_from_counts_and_leaves_the_input_alone()
    {
        var input = Saved(UnitSelector.Select(Hand(), 1, 1, [SiteKind.Attn], false, SteeringMethod.AuSteer), "in.json");
        var before = File.ReadAllBytes(input);
        var output = Path.Combine(_dir, "out.json");
        Assert.Equal(0, Run("select", input, "--k", "2", "--alpha", "10", "--sites", "attn,mlp", "--rank-jointly", "-o", output));
        Assert.Equal(before, File.ReadAllBytes(input));
        var p = SteeringProfile.Load(output);
        Assert.Equal("mlp.0[0] attn.1[1]", Describe(p.Units));
        Assert.Equal([10.0, 10.0], p.Units.Select(u => u.Gamma));
        Assert.Equal(64, Run("select", input, "--sites", "ffn"));
        Assert.Equal(3, Run("select", Path.Combine(_dir, "missing.json")));
    }

    [Fact]
    public void Merge_sums_counts_and_refuses_other_models()
    {
        var a = Saved(Hand(), "a.json");
        var b = Saved(Hand(), "b.json");
        var merged = Path.Combine(_dir, "m.json");
        // The same source twice would count its pairs twice: refused.
        Assert.Equal(3, Run("merge", a, b, "-o", merged));
        var other = Hand();
        other.Source = "second.jsonl";
        var c = Saved(other, "c.json");
        Assert.Equal(0, Run("merge", a, c, "-o", merged));
        Assert.Equal([6, 2, 4], SteeringProfile.Load(merged).Counts[0].Positive);
        other.ModelFingerprint = "sha256:different";
        var d = Saved(other, "d.json");
        Assert.Equal(3, Run("merge", a, d, "-o", Path.Combine(_dir, "never.json")));
        Assert.False(File.Exists(Path.Combine(_dir, "never.json")));
    }
}
