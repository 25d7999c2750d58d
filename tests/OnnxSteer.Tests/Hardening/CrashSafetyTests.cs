using System.Diagnostics;
using System.Security.Cryptography;
using OnnxSteer.ModelFiles;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Hardening;

/// <summary>
/// Crash safety of the two commands that write models: `repack` and `patch` run as real processes on a copy of the
/// tiny genai export and are killed with SIGKILL at random moments. Afterwards the output path holds nothing or a
/// complete model that loads (external data checked), and the input files are byte-identical (SHA-256). Half the kills
/// are timed to land after the temporary output appears; the test asserts that at least half of all kills interrupted a
/// run and a quarter of them left a temporary file behind (killed mid-write), so it cannot pass on kills that all
/// came too late.
/// ONNXSTEER_CRASH_KILLS sets the number of kills (default 50, split between the two commands).
/// </summary>
public sealed class CrashSafetyTests(ITestOutputHelper output)
{
    [SharedFact]
    public void Sigkill_at_random_moments_leaves_nothing_or_a_complete_model_and_the_input_unchanged()
    {
        var kills = int.TryParse(Environment.GetEnvironmentVariable("ONNXSTEER_CRASH_KILLS"), out var n) && n > 1 ? n : 50;
        using var dir = new TempDir();
        var input = CopyTinyGenai(dir["input"]);
        var profile = WriteProfile(input, dir.Path);
        var inputHashes = HashFolder(input);
        var rng = new Random(7);

        // Each job: the command line for attempt i, and the model file it writes.
        (string Name, Func<int, string[]> Args, Func<int, string> Target)[] jobs =
        [
            ("repack", i => i % 2 == 0
                ? new[] { "repack", input, "-o", dir[$"repack-{i}/model.onnx"], "--inline" }
                : new[] { "repack", input, "-o", dir[$"repack-{i}/model.onnx"], "--external-data", "model.onnx.data", "--threshold", "64" },
                i => dir[$"repack-{i}/model.onnx"]),
            ("patch", i => i % 2 == 0
                ? new[] { "patch", input, profile, "-o", dir[$"patch-{i}/steered.onnx"] }
                : new[] { "patch", input, profile, "-o", dir[$"patch-{i}/steered.onnx"], "--fold" },
                i => dir[$"patch-{i}/steered.onnx"]),
        ];

        var complete = 0; var absent = 0; var interrupted = 0; var midWrite = 0;
        foreach (var (name, args, target) in jobs)
        {
            // One uninterrupted run per job: it must succeed, and its length sets the window the kills are drawn from.
            Directory.CreateDirectory(Path.GetDirectoryName(target(-2))!);
            var clock = Stopwatch.StartNew();
            var (code, stderr) = RunToEnd(args(-2));
            Assert.True(code == 0, $"{name} failed uninterrupted (exit {code}): {stderr}");
            var full = clock.Elapsed;
            OnnxModel.Load(target(-2));

            for (var i = 0; i < kills / 2 + kills % 2; i++)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(target(i))!);
                // Half the kills at a random moment of the run; half 0-20 ms after its temporary output appears, so that
                // they land in the writes whatever the machine's load does to the timing.
                var path = target(i);
                var at = full * rng.NextDouble();
                var afterTemp = TimeSpan.FromMilliseconds(20 * rng.NextDouble());
                var ended = i % 2 == 0 ? KillAfter(args(i), at) : KillWhileWriting(args(i), Path.GetDirectoryName(path)!, afterTemp);
                if (!ended) interrupted++;
                // A temporary file or folder left beside the target: the kill landed while the output was being written.
                if (!ended && Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(path)!).Any(e => e.EndsWith(".tmp", StringComparison.Ordinal)))
                    midWrite++;
                if (File.Exists(path))
                {
                    var model = OnnxModel.Load(path); // throws if cut short or its data file is not whole
                    Assert.NotNull(model.Graph);
                    Assert.NotEmpty(model.Graph.Node);
                    complete++;
                }
                else absent++;
                if (ended) output.WriteLine($"{name} #{i}: finished before the kill" + (i % 2 == 0 ? $" at {at.TotalMilliseconds:0} ms" : ""));
            }
        }
        output.WriteLine($"{kills} SIGKILLs: {interrupted} interrupted a run, {midWrite} of them mid-write; " +
                         $"{complete} left a complete model, {absent} left nothing; " +
                         $"leftover temporary files: {Directory.EnumerateFiles(dir.Path, "*", SearchOption.AllDirectories).Count(f => f.Contains(".tmp", StringComparison.Ordinal))}");
        Assert.Equal(inputHashes, HashFolder(input));
        // The properties above mean something only if the kills hit running processes, and some of them the writes.
        Assert.True(interrupted >= kills / 2, $"only {interrupted} of {kills} kills interrupted a run");
        Assert.True(midWrite >= kills / 4, $"only {midWrite} of {kills} kills landed while the output was being written");
    }

    [SharedFact]
    public void Two_processes_writing_the_same_output_leave_one_whole_result()
    {
        using var dir = new TempDir();
        var input = CopyTinyGenai(dir["input"]);
        var inputHashes = HashFolder(input);
        // --force: each run replaces the output the one before left (docs/errors.md, "Outputs").
        string[] inline = ["repack", input, "-o", dir["out/model.onnx"], "--inline", "--force"];
        string[] external = ["repack", input, "-o", dir["out/model.onnx"], "--external-data", "model.onnx.data", "--threshold", "64", "--force"];
        Directory.CreateDirectory(dir["out"]);

        // The two possible whole results, each written alone.
        Assert.Equal(0, RunToEnd(inline).Code);
        var inlineHash = Hash(dir["out/model.onnx"]);
        Assert.Equal(0, RunToEnd(external).Code);
        var externalHash = Hash(dir["out/model.onnx"]);
        Assert.NotEqual(inlineHash, externalHash);

        for (var round = 0; round < 2; round++)
        {
            Directory.Delete(dir["out"], recursive: true);
            Directory.CreateDirectory(dir["out"]);
            using var a = Start(inline);
            using var b = Start(external);
            a.WaitForExit();
            b.WaitForExit();
            Assert.Equal(0, a.ExitCode);
            Assert.Equal(0, b.ExitCode);
            var winner = Hash(dir["out/model.onnx"]);
            Assert.Contains(winner, new[] { inlineHash, externalHash });
            OnnxModel.Load(dir["out/model.onnx"]); // whichever won, its external data (if any) is whole
            output.WriteLine($"round {round}: {(winner == inlineHash ? "inline" : "external")} won");
        }
        Assert.Equal(inputHashes, HashFolder(input));
    }

    /// <summary>Copies the tiny genai export (model, data, configs, tokenizer) into <paramref name="folder"/>.</summary>
    internal static string CopyTinyGenai(string folder)
    {
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.EnumerateFiles(SharedData.TinyGenaiModelDir))
        {
            var copy = Path.Combine(folder, Path.GetFileName(file));
            File.Copy(file, copy);
            File.SetAttributes(copy, FileAttributes.Normal);
        }
        return folder;
    }

    internal static string WriteProfile(string modelDir, string folder)
    {
        var model = OnnxModel.Load(modelDir);
        var sites = SiteFinder.Find(model).Sites;
        return TestProfiles.Save(TestProfiles.Make(model, sites, k: 4, alpha: 2, pairs: 3), folder);
    }

    private static Process Start(string[] args) => CliProcess.Start(args);

    internal static (int Code, string Stderr) RunToEnd(string[] args)
    {
        using var process = Process.Start(CliProcess.StartInfo(args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        _ = stdout.Result;
        return (process.ExitCode, stderr);
    }

    /// <summary>Starts the CLI and sends SIGKILL after <paramref name="delay"/>; true when it had already exited.</summary>
    private static bool KillAfter(string[] args, TimeSpan delay)
    {
        using var process = Start(args);
        if (process.WaitForExit(delay)) return true;
        process.Kill(entireProcessTree: false); // SIGKILL on Unix
        process.WaitForExit();
        return false;
    }

    /// <summary>Starts the CLI and sends SIGKILL <paramref name="delay"/> after a temporary (*.tmp) entry appears in
    /// <paramref name="folder"/>; true when it exited first.</summary>
    private static bool KillWhileWriting(string[] args, string folder, TimeSpan delay)
    {
        using var process = Start(args);
        var limit = Stopwatch.StartNew();
        while (!Directory.EnumerateFileSystemEntries(folder).Any(e => e.EndsWith(".tmp", StringComparison.Ordinal)))
        {
            if (process.WaitForExit(1)) return true;
            Assert.True(limit.Elapsed < TimeSpan.FromMinutes(2), "the command neither wrote nor exited within 2 minutes");
        }
        if (process.WaitForExit(delay)) return true;
        process.Kill(entireProcessTree: false);
        process.WaitForExit();
        return false;
    }

    private static string Hash(string file) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));

    private static Dictionary<string, string> HashFolder(string folder) =>
        Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal).ToDictionary(f => Path.GetFileName(f), f => Hash(f));
}
