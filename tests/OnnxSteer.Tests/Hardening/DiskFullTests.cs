using OnnxSteer.Cli;
using System.Diagnostics;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Hardening;

/// <summary>
/// A full disk: `repack --inline` and `patch --fold` each write a ~2 MB model into a 1 MB tmpfs, mounted in a private
/// mount namespace (<c>unshare -rm</c>, no privileges needed where user namespaces are allowed). Each command must fail
/// with one error line on stderr (the last; patch's notes may come before it), <c>onnxsteer: error: OUTPUT: no space
/// left on device</c> naming the output path given with -o, and exit code 2, and leave no file (temporary or final) behind. Skipped, with the reason in the
/// runner's report, where the namespace or the mount is refused (<see cref="Requirement.PrivateTmpfs"/>).
/// </summary>
public sealed class DiskFullTests(ITestOutputHelper output)
{
    [SharedTmpfsFact]
    public void Writing_to_a_full_disk_fails_in_one_line_and_leaves_no_file()
    {
        using var dir = new Patching.TempDir();
        var input = CrashSafetyTests.CopyTinyGenai(dir["input"]);
        var profile = CrashSafetyTests.WriteProfile(input, dir.Path);
        // Each command and the output it names: {0} is the small tmpfs.
        var commands = new Dictionary<string, (string Command, string Output)>
        {
            ["repack"] = ($"repack '{input}' -o '{{0}}/model.onnx' --inline", "{0}/model.onnx"),
            ["patch --fold"] = ($"patch '{input}' '{profile}' -o '{{0}}/steered.onnx' --fold", "{0}/steered.onnx"),
        };
        foreach (var (name, (command, outputPath)) in commands)
        {
            var small = Directory.CreateDirectory(dir[$"small-{name.Replace(' ', '-')}"]).FullName;
            var (stdout, lines) = RunInFullTmpfs(small, string.Format(command, small), dir[$"stderr-{name.Replace(' ', '-')}"]);
            output.WriteLine($"{name}: {stdout.Trim().Replace('\n', ' ')}; stderr: {string.Join(" | ", lines)}");
            Assert.Contains($"exit={ExitCodes.Failure}", stdout);
            Assert.Contains("left=0", stdout);
            // patch prints its warnings and notes (a factor below zero, sites not folded, files copied) before it fails:
            // one error line, last, no trace. ("error:", not "error": a warning may cite docs/errors.md.)
            Assert.Single(lines, l => l.Contains("error:", StringComparison.OrdinalIgnoreCase));
            // The contract's form, naming the output the user asked for (never a temporary name): <file>: <problem>.
            Assert.Equal($"onnxsteer: error: {string.Format(outputPath, small)}: no space left on device", lines[^1]);
            Assert.All(lines, l => Assert.DoesNotContain("   at ", l));
        }
    }

    /// <summary>Runs `onnxsteer <paramref name="arguments"/>` inside a private namespace where <paramref name="small"/> is
    /// a 1 MB tmpfs; returns what the script reports (exit code, entries left) and the command's non-blank stderr lines.</summary>
    private static (string Stdout, List<string> StderrLines) RunInFullTmpfs(string small, string arguments, string stderrFile)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "OnnxSteer.Cli.dll");
        // Inside the namespace: mount, check the mount took, run the command, report its exit code and what is left.
        var script = $"mount -t tmpfs -o size=1m tmpfs '{small}' || exit 90; " +
                     $"dotnet '{cli}' {arguments} 2>'{stderrFile}' >/dev/null; " +
                     $"echo \"exit=$?\"; echo \"left=$(ls -A '{small}' | wc -l)\"";
        var start = new ProcessStartInfo("unshare") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-rm", "sh", "-c", script }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        // The attribute's probe mounted a tmpfs this way, so a refusal here is a failure, not a reason to pass.
        Assert.True(process.ExitCode == 0 && stdout.Contains("exit=", StringComparison.Ordinal),
            $"unshare/mount failed after the probe succeeded (exit {process.ExitCode}): {stderr.Trim()}");
        return (stdout, File.ReadAllLines(stderrFile).Where(l => l.Trim().Length > 0).ToList());
    }
}
