using System.Diagnostics;
using Xunit;

namespace OnnxSteer.Tests.Infrastructure;

/// <summary>Something a test needs from the machine beyond the repository itself.</summary>
public enum Requirement
{
    /// <summary>../shared: the real models and data sets (see <see cref="Infrastructure.SharedData"/>).</summary>
    SharedData,

    /// <summary>Debian's libonnx-testdata package (/usr/share/libonnx-testdata/data).</summary>
    LibOnnxTestData,

    /// <summary>node on PATH and the hyllama package that <c>make setup</c> fetches into .cache/npm/hyllama.</summary>
    Hyllama,

    /// <summary>A private mount namespace with a size-limited tmpfs (<c>unshare -rm</c>, then <c>mount -t tmpfs</c>).</summary>
    PrivateTmpfs,

    /// <summary>Root on Linux (creating device nodes).</summary>
    Root,
}

/// <summary>
/// Decides, once per test run, whether each <see cref="Requirement"/> is met and why not. xunit 2.9 has no dynamic
/// skip (Assert.Skip arrived in xunit v3), so a missing requirement is found when the test attribute is built, by probing
/// the machine, and becomes the attribute's Skip reason: the runner then reports the test as skipped with that reason
/// (tests/run-tests.sh lists every skipped test and its reason at the end of the run).
/// <para>
/// Under CI (<c>CI=true</c>) the requirements that CI provides (.ci/run installs libonnx-testdata and npm, <c>make
/// setup</c> fetches hyllama, CI lays ../shared beside the clone) are never skipped: their tests run and fail on what is
/// missing, so a CI run cannot be green without its data.
/// </para>
/// </summary>
public static class Requirements
{
    /// <summary>The path Debian's libonnx-testdata installs its models under.</summary>
    public const string LibOnnxDataRoot = "/usr/share/libonnx-testdata/data";

    /// <summary>Where <c>make setup</c> unpacks hyllama.</summary>
    public static string HyllamaScript => Path.Combine(SharedData.RepoRoot, ".cache", "npm", "hyllama", "package", "src", "hyllama.js");

    /// <summary>True when the CI environment variable is "true" (as CI sets it) or "1".</summary>
    public static bool InCi { get; } = Environment.GetEnvironmentVariable("CI") is { } ci &&
        (ci.Equals("true", StringComparison.OrdinalIgnoreCase) || ci == "1");

    private static readonly Lazy<string?> TmpfsProbe = new(ProbePrivateTmpfs);

    /// <summary>Why <paramref name="requirement"/> is not met on this machine, or null when it is.</summary>
    public static string? Missing(Requirement requirement) => requirement switch
    {
        Requirement.SharedData => SharedData.Available ? null : "../shared (real models and data) is absent beside the repository root",
        Requirement.LibOnnxTestData => Directory.Exists(LibOnnxDataRoot) ? null : $"{LibOnnxDataRoot} is absent (apt-get install libonnx-testdata)",
        Requirement.Hyllama => !File.Exists(HyllamaScript) ? $"{HyllamaScript} is absent (make setup fetches it with npm)"
            : !OnPath("node") ? "node is not on PATH" : null,
        Requirement.PrivateTmpfs => TmpfsProbe.Value,
        Requirement.Root => OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess ? null : "creating a device node (mknod) needs root on Linux",
        _ => throw new ArgumentOutOfRangeException(nameof(requirement)),
    };

    /// <summary>Whether CI provides <paramref name="requirement"/>, so that its absence there is a failure, not a skip.</summary>
    public static bool ProvidedByCi(Requirement requirement) =>
        requirement is Requirement.SharedData or Requirement.LibOnnxTestData or Requirement.Hyllama;

    /// <summary>The Skip value for a test needing <paramref name="requirements"/>: null to run it, else "skipped: reason".</summary>
    public static string? SkipReason(params Requirement[] requirements)
    {
        foreach (var requirement in requirements)
        {
            if (InCi && ProvidedByCi(requirement)) continue;
            if (Missing(requirement) is { } reason) return "skipped: " + reason;
        }
        return null;
    }

    /// <summary>Fails the calling test with the reason when <paramref name="requirement"/> is missing (reached only under
    /// CI, where the attribute did not skip it).</summary>
    public static void Require(Requirement requirement)
    {
        if (Missing(requirement) is { } reason) Assert.Fail($"CI=true and {reason}");
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, program)));

    /// <summary>Mounts a 64 KB tmpfs in a throwaway private mount namespace; the reason it cannot, or null.</summary>
    private static string? ProbePrivateTmpfs()
    {
        if (!OperatingSystem.IsLinux()) return "a private tmpfs needs Linux mount namespaces";
        if (!OnPath("unshare")) return "unshare (util-linux) is not on PATH";
        var start = new ProcessStartInfo("unshare") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt && echo mounted" }) start.ArgumentList.Add(a);
        try
        {
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEnd();
            if (!process.WaitForExit(10_000))
            {
                process.Kill();
                return "unshare -rm did not finish within 10 s";
            }
            return process.ExitCode == 0 && stdout.Result.Contains("mounted", StringComparison.Ordinal)
                ? null
                : $"no private size-limited tmpfs here (unshare -rm + mount exit {process.ExitCode}: {stderr.Trim()})";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"unshare cannot start ({e.Message})";
        }
    }
}

/// <summary>A fact that needs ../shared: skipped with the reason when it is absent, except under CI=true.</summary>
public sealed class SharedFactAttribute : FactAttribute
{
    public SharedFactAttribute() => Skip = Requirements.SkipReason(Requirement.SharedData);
}

/// <summary>A theory that needs ../shared: skipped with the reason when it is absent, except under CI=true.</summary>
public sealed class SharedTheoryAttribute : TheoryAttribute
{
    public SharedTheoryAttribute() => Skip = Requirements.SkipReason(Requirement.SharedData);
}

/// <summary>A fact that needs Debian's libonnx-testdata: skipped with the reason when it is absent, except under CI=true.</summary>
public sealed class LibOnnxFactAttribute : FactAttribute
{
    public LibOnnxFactAttribute() => Skip = Requirements.SkipReason(Requirement.LibOnnxTestData);
}

/// <summary>A fact that runs hyllama under node: skipped with the reason when either is absent, except under CI=true.</summary>
public sealed class HyllamaFactAttribute : FactAttribute
{
    public HyllamaFactAttribute() => Skip = Requirements.SkipReason(Requirement.Hyllama);
}

/// <summary>A fact that needs ../shared and a private size-limited tmpfs: skipped with the reason when the kernel or
/// sandbox refuses the namespace or the mount (a machine property that CI cannot install).</summary>
public sealed class SharedTmpfsFactAttribute : FactAttribute
{
    public SharedTmpfsFactAttribute() => Skip = Requirements.SkipReason(Requirement.SharedData, Requirement.PrivateTmpfs);
}

/// <summary>A fact that needs root on Linux (to create device nodes): skipped with the reason otherwise.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute() => Skip = Requirements.SkipReason(Requirement.Root);
}
