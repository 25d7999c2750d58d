using System.Diagnostics;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Hardening;

/// <summary>
/// A full disk: `repack` and `patch --fold` write a ~2 MB model into a 1 MB tmpfs, mounted in a private mount
/// namespace (<c>unshare -rm</c>, no privileges needed where user namespaces are allowed). The command must fail
/// with one stderr line and exit code 2, and leave no file (temporary or final) behind.
/// Where the namespace or the mount is refused, the test says so on its output and checks nothing.
/// </summary>
public sealed class DiskFullTests(ITestOutputHelper output)
{
    [SharedFact]
    public void Writing_to_a_full_disk_fails_in_one_line_and_leaves_no_file()
    {
        using var dir = new Patching.TempDir();
        var input = CrashSafetyTests.CopyTinyGenai(dir["input"]);
        var small = Directory.CreateDirectory(dir["small"]).FullName;
        var cli = Path.Combine(AppContext.BaseDirectory, "OnnxSteer.Cli.dll");
        // Inside the namespace: mount, check the mount took, run the command, report its exit code and what is left.
        var script = $"mount -t tmpfs -o size=1m tmpfs '{small}' || exit 90; " +
                     $"dotnet '{cli}' repack '{input}' -o '{small}/model.onnx' --inline 2>'{dir["stderr"]}' >/dev/null; " +
                     $"echo \"exit=$?\"; echo \"left=$(ls -A '{small}' | wc -l)\"";
        var start = new ProcessStartInfo("unshare") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-rm", "sh", "-c", script }) start.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            output.WriteLine($"not checked: unshare is unavailable ({e.Message})");
            return;
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEnd();
            var stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0 || !stdout.Contains("exit=", StringComparison.Ordinal))
            {
                output.WriteLine($"not checked: no private size-limited tmpfs (unshare/mount exit {process.ExitCode}: {stderr.Trim()})");
                return;
            }
            var lines = File.ReadAllLines(dir["stderr"]).Where(l => l.Trim().Length > 0).ToList();
            output.WriteLine(stdout.Trim());
            output.WriteLine(string.Join("\n", lines));
            Assert.Contains($"exit={ExitCodes.Failure}", stdout);
            Assert.Contains("left=0", stdout);
            Assert.Single(lines);
            Assert.DoesNotContain("   at ", lines[0]);
            Assert.Contains("onnxsteer: error:", lines[0]);
        }
    }
}
