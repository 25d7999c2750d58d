using OnnxSteer.Cli;
using OnnxSteer.Import;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Recording;

public class ProfileCommandTests(Stories260KModels models) : IClassFixture<Stories260KModels>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("onnxsteer-profile-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static int Run(params string[] args) => CliApp.RunAsync(args).GetAwaiter().GetResult();

    private string PairsFile(params string[] extra)
    {
        var path = Path.Combine(_dir, "pairs.jsonl");
        File.WriteAllLines(path, new[]
        {
            """{"prompt": "Once upon a time, there was a little girl named Lily. She", "positive": " was happy", "negative": " was sad"}""",
            """{"prompt": "Tom had a big red ball. He liked to", "positive": " play", "negative": " cry"}""",
            """{"prompt": "The sun was hot and the dog was", "positive": " tired", "negative": " blue"}""",
        }.Concat(extra));
        return path;
    }

    [SharedFact]
    public void Profile_writes_a_loadable_profile_and_shards_merge_to_it()
    {
        var model = models.Dir(ExportStyle.Standard);
        var pairs = PairsFile();
        var whole = Path.Combine(_dir, "whole.json");
        Assert.Equal(0, Run("profile", model, "--pairs", pairs, "--sites", "mlp-out", "--k", "3", "--alpha", "5", "--quiet", "-o", whole));
        var p = SteeringProfile.Load(whole);
        Assert.Equal((3, 3), (p.Pairs, p.Units.Count));
        Assert.All(p.Units, u => Assert.StartsWith("mlp-out.", u.Site));
        Assert.Equal(15, p.Sites.Count);
        Assert.Equal("model.onnx", p.ModelFile);

        var s0 = Path.Combine(_dir, "s0.json");
        var s1 = Path.Combine(_dir, "s1.json");
        Assert.Equal(0, Run("profile", model, "--pairs", pairs, "--sites", "mlp-out", "--k", "3", "--alpha", "5", "--shard", "0/2", "--batch-size", "2", "--quiet", "-o", s0));
        Assert.Equal(0, Run("profile", model, "--pairs", pairs, "--sites", "mlp-out", "--k", "3", "--alpha", "5", "--shard", "1/2", "--quiet", "-o", s1));
        var merged = Path.Combine(_dir, "merged.json");
        Assert.Equal(0, Run("merge", s1, s0, "-o", merged));
        Assert.Equal(File.ReadAllBytes(whole), File.ReadAllBytes(merged));
    }

    [SharedFact]
    public void Probes_work_with_the_default_options_and_no_checkpoint_is_planned_unless_asked()
    {
        // docs/dynamic.md's first command as written: no --checkpoint-minutes, so the default must not plan a checkpoint
        // that --probes then refuses (issue 30 item 1).
        var model = models.Dir(ExportStyle.Standard);
        var pairs = PairsFile(Enumerable.Range(0, 7).Select(i => $$"""{"prompt": "One day, Kim {{i}}", "positive": " was glad", "negative": " was sad"}""").ToArray());
        var output = Path.Combine(_dir, "probes.json");
        Assert.Equal(0, Run("profile", model, "--pairs", pairs, "--sites", "mlp", "--k", "3", "--alpha", "2", "--probes", "--quiet", "-o", output));
        Assert.NotNull(SteeringProfile.Load(output).Probes);
        Assert.False(File.Exists(output + ".checkpoint"));
    }

    [SharedFact]
    public void A_bad_pairs_line_fails_naming_it_and_leaves_no_profile_unless_skipped()
    {
        var model = models.Dir(ExportStyle.Standard);
        var pairs = PairsFile("""{"prompt": "x", "positive": ""}""");
        var output = Path.Combine(_dir, "p.json");
        Assert.Equal(ExitCodes.InvalidInput, Run("profile", model, "--pairs", pairs, "--quiet", "-o", output));
        Assert.Empty(Directory.GetFiles(_dir, "*.json"));
        Assert.Equal(0, Run("profile", model, "--pairs", pairs, "--skip-bad", "--pairs-limit", "2", "--quiet", "-o", output));
        var p = SteeringProfile.Load(output);
        Assert.Equal((2, 0), (p.Pairs, p.SkippedBad)); // the limit stops before the bad line
        Assert.Equal(0, Run("profile", model, "--pairs", pairs, "--skip-bad", "--max-tokens", "12", "--quiet", "-o", output, "--force")); // replaces the profile above
        p = SteeringProfile.Load(output);
        Assert.Equal(3, p.Pairs);
        Assert.Equal(1, p.SkippedBad);
        Assert.True(p.Truncated >= 4, $"prompts longer than 12 tokens are cut from the left; {p.Truncated} sequences were");
        Assert.Equal(ExitCodes.Usage, Run("profile", model, "--pairs", pairs, "--shard", "2/2", "-o", output));
        Assert.Equal(ExitCodes.Usage, Run("profile", model, "--task", "boolq", "-o", output));
    }
}
