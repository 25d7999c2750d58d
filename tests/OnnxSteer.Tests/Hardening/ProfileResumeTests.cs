using OnnxSteer.Cli;
using System.Diagnostics;
using System.Text.Json;
using OnnxSteer.Import;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Recording;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Hardening;

/// <summary>
/// Checkpoint/resume and job-array sharding of <c>profile</c>, as real CLI processes on stories260K: processes killed
/// with SIGKILL mid-run and resumed end with a profile byte-identical to an uninterrupted run, and shard processes
/// launched together with their index in SLURM_ARRAY_TASK_ID / JOB_COMPLETION_INDEX merge to the single run.
/// </summary>
public sealed class ProfileResumeTests(Stories260KModels models, ITestOutputHelper output) : IClassFixture<Stories260KModels>, IDisposable
{
    private const int PairCount = 24;
    private readonly string _dir = Directory.CreateTempSubdirectory("onnxsteer-resume-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);


    private string PairsFile()
    {
        var path = Path.Combine(_dir, "pairs.jsonl");
        string[] names = ["Lily", "Tom", "Sue", "Max", "Ben", "Mia"];
        string[] things = ["ball", "cat", "tree", "cake"];
        File.WriteAllLines(path, Enumerable.Range(0, PairCount).Select(i =>
            JsonSerializer.Serialize(new { prompt = $"{names[i % 6]} saw a big {things[i % 4]}. {names[i % 6]} was", positive = " happy", negative = " sad" })));
        return path;
    }

    private string[] ProfileArgs(string model, string pairs, string outPath, params string[] extra) =>
        ["profile", model, "--pairs", pairs, "--sites", "attn,mlp", "--k", "4", "--alpha", "3", "--batch-size", "2", "-q", "-o", outPath, .. extra];

    [SharedFact]
    public void Sigkilled_and_resumed_profiles_equal_an_uninterrupted_one_byte_for_byte()
    {
        var model = models.Dir(ExportStyle.Standard);
        var pairs = PairsFile();
        var reference = Path.Combine(_dir, "reference.json");
        var (code, stderr) = CrashSafetyTests.RunToEnd(ProfileArgs(model, pairs, reference));
        Assert.True(code == 0, stderr);

        var resumed = Path.Combine(_dir, "resumed.json");
        var checkpoint = resumed + ".checkpoint";
        var rng = new Random(20261206);
        // Kill points: random pair counts, increasing, so every run must continue from the one before.
        var targets = Enumerable.Range(0, 4).Select(_ => rng.Next(1, PairCount)).Order().ToList();
        var seen = new List<int>();
        var landed = 0;
        foreach (var target in targets)
        {
            using var process = Start(ProfileArgs(model, pairs, resumed, "--resume", "--checkpoint-every", "1"));
            int? done = null;
            while (!process.HasExited)
            {
                done = PairsDone(checkpoint);
                if (done is { } d && (seen.Count == 0 || d != seen[^1])) seen.Add(d);
                if (done >= target) break;
                Thread.Sleep(5);
            }
            // A random moment after the target: between batches, inside one, or while the next checkpoint is written.
            Thread.Sleep(rng.Next(0, 40));
            var exitedFirst = process.HasExited;
            if (!exitedFirst) process.Kill(entireProcessTree: false); // SIGKILL on Unix
            process.WaitForExit();
            var after = PairsDone(checkpoint);
            output.WriteLine($"target {target}: killed={!exitedFirst}, checkpoint at {after?.ToString() ?? "none"} of {PairCount}, output {(File.Exists(resumed) ? "present" : "absent")}");
            if (!exitedFirst && after is > 0 and < PairCount && !File.Exists(resumed)) landed++;
            if (after is { } a) seen.Add(a);
        }
        // The kills must have landed mid-run (a checkpoint part-way, no profile yet), not before or after the work.
        Assert.True(landed >= targets.Count - 1, $"only {landed} of {targets.Count} kills landed mid-run");
        // Every process continued from the one before: the saved pair count never went back (a restart would write 1).
        Assert.Equal(seen.Order().ToList(), seen);

        (code, stderr) = CrashSafetyTests.RunToEnd(ProfileArgs(model, pairs, resumed, "--resume", "--checkpoint-every", "1"));
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllBytes(reference), File.ReadAllBytes(resumed));
        Assert.False(File.Exists(checkpoint), "the checkpoint is removed once the profile is written");
    }

    [SharedFact]
    public void A_checkpoint_of_other_work_is_refused_and_left_alone()
    {
        var model = models.Dir(ExportStyle.Standard);
        var pairs = PairsFile();
        var outPath = Path.Combine(_dir, "p.json");
        // A run that dies after saving: simulate with a checkpoint written for the first 10 pairs only.
        var (code, stderr) = CrashSafetyTests.RunToEnd([.. ProfileArgs(model, pairs, Path.Combine(_dir, "ten.json"), "--checkpoint-every", "1", "--pairs-limit", "10")]);
        Assert.True(code == 0, stderr);
        Assert.False(File.Exists(Path.Combine(_dir, "ten.json.checkpoint")));

        File.WriteAllText(outPath + ".checkpoint", "{\"format\": \"something else\"}");
        (code, stderr) = CrashSafetyTests.RunToEnd(ProfileArgs(model, pairs, outPath, "--resume"));
        Assert.Equal(ExitCodes.InvalidInput, code);
        Assert.Contains("not a profile checkpoint", stderr);
        Assert.False(File.Exists(outPath));
    }

    [SharedFact]
    public void Shard_processes_started_together_from_array_index_variables_merge_to_the_single_run()
    {
        var model = models.Dir(ExportStyle.Standard);
        var pairs = PairsFile();
        var single = Path.Combine(_dir, "single.json");
        var (code, stderr) = CrashSafetyTests.RunToEnd(ProfileArgs(model, pairs, single));
        Assert.True(code == 0, stderr);

        foreach (var variable in new[] { "SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX" })
        {
            const int n = 3;
            var shards = Enumerable.Range(0, n).Select(i => Path.Combine(_dir, $"{variable}-{i}.json")).ToList();
            // All n at once, as a job array starts them; each learns its index only from the variable.
            var processes = Enumerable.Range(0, n)
                .Select(i => Start(ProfileArgs(model, pairs, shards[i], "--shard", $"env:{variable}/{n}"), (variable, i.ToString())))
                .ToList();
            foreach (var p in processes)
            {
                p.WaitForExit();
                Assert.Equal(0, p.ExitCode);
                p.Dispose();
            }
            var merged = Path.Combine(_dir, $"{variable}-merged.json");
            (code, stderr) = CrashSafetyTests.RunToEnd(["merge", .. shards, "-o", merged]);
            Assert.True(code == 0, stderr);
            Assert.Equal(File.ReadAllBytes(single), File.ReadAllBytes(merged));
            output.WriteLine($"{variable}: {n} concurrent shards merged to the single run's {new FileInfo(single).Length} bytes");
        }

        // Outside a job array the variable is unset: a usage error, before any work.
        (code, stderr) = CrashSafetyTests.RunToEnd(ProfileArgs(model, pairs, Path.Combine(_dir, "none.json"), "--shard", "env:ONNXSTEER_TEST_UNSET_INDEX/4"));
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("ONNXSTEER_TEST_UNSET_INDEX is not set", stderr);
    }

    /// <summary>pairsDone of the checkpoint at <paramref name="path"/>, or null when there is none (it is replaced atomically).</summary>
    private static int? PairsDone(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            return doc.RootElement.GetProperty("pairsDone").GetInt32();
        }
        catch (Exception e) when (e is FileNotFoundException or IOException or JsonException)
        {
            return null;
        }
    }

    private static Process Start(string[] args, (string Name, string Value)? environment = null) =>
        CliProcess.Start(args, environment);
}
