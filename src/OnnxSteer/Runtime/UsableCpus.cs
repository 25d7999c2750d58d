using System.Diagnostics;
using System.Globalization;
using System.Numerics;

namespace OnnxSteer.Runtime;

/// <summary>
/// How many CPUs this process may use: the CPUs of its affinity mask, lowered to the cgroup's CPU quota (cgroup v2
/// <c>cpu.max</c>, or v1 <c>cpu.cfs_quota_us</c> / <c>cpu.cfs_period_us</c>), rounded up, at least 1. ONNX Runtime's own
/// default (one thread per physical core, as it detects them) gave one thread on a 2-vCPU VM, half the machine; OnnxSteer
/// gives every session (its own loop and onnxruntime-genai) this count unless the caller names one.
/// </summary>
internal static class UsableCpus
{
    /// <summary>The cgroup file system root of Linux.</summary>
    public const string CgroupRoot = "/sys/fs/cgroup";

    private static readonly Lazy<int> Current = new(() => Count(AffinityCount(), OwnCgroupFolder()));

    /// <summary>The count for this process (read once).</summary>
    public static int ForThisProcess => Current.Value;

    /// <summary>
    /// <paramref name="affinity"/> CPUs, lowered to the quota the cgroup files under <paramref name="cgroupRoot"/> set
    /// (v2 <c>cpu.max</c> "QUOTA PERIOD" or "max PERIOD" at the root; v1 <c>cpu/cpu.cfs_quota_us</c> with −1 for none).
    /// Unreadable or malformed files set no limit.
    /// </summary>
    public static int Count(int affinity, string cgroupRoot)
    {
        var cpus = Math.Max(1, affinity);
        if (Quota(cgroupRoot) is { } quota) cpus = Math.Min(cpus, Math.Max(1, (int)Math.Ceiling(quota)));
        return cpus;
    }

    /// <summary>The cgroup's CPU quota in CPUs (e.g. 1.5), or null when it sets none.</summary>
    public static double? Quota(string cgroupRoot)
    {
        try
        {
            var v2 = Path.Combine(cgroupRoot, "cpu.max");
            if (File.Exists(v2))
            {
                var parts = File.ReadAllText(v2).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                return parts.Length == 2 && parts[0] != "max" ? Ratio(parts[0], parts[1]) : null;
            }
            var quota = Path.Combine(cgroupRoot, "cpu", "cpu.cfs_quota_us");
            var period = Path.Combine(cgroupRoot, "cpu", "cpu.cfs_period_us");
            if (File.Exists(quota) && File.Exists(period))
                return Ratio(File.ReadAllText(quota).Trim(), File.ReadAllText(period).Trim());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return null;
    }

    private static double? Ratio(string quota, string period) =>
        long.TryParse(quota, NumberStyles.Integer, CultureInfo.InvariantCulture, out var q) && q > 0
        && long.TryParse(period, NumberStyles.Integer, CultureInfo.InvariantCulture, out var p) && p > 0
            ? (double)q / p
            : null;

    /// <summary>
    /// The cgroup v2 folder of this process ("0::/path" in /proc/self/cgroup) when it has a cpu.max, else the root (a
    /// container sees its own cgroup there; cgroup v1 keeps its files under the root's cpu/ folder).
    /// </summary>
    private static string OwnCgroupFolder()
    {
        try
        {
            var line = File.Exists("/proc/self/cgroup") ? File.ReadLines("/proc/self/cgroup").FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal)) : null;
            var own = line is null ? null : Path.Join(CgroupRoot, line[3..].Trim());
            if (own is not null && File.Exists(Path.Combine(own, "cpu.max"))) return own;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return CgroupRoot;
    }

    /// <summary>CPUs in this process's affinity mask (all online CPUs where the mask cannot be read).</summary>
    private static int AffinityCount()
    {
        try
        {
            if (OperatingSystem.IsLinux() || OperatingSystem.IsWindows())
            {
                using var self = Process.GetCurrentProcess();
                var mask = (ulong)self.ProcessorAffinity;
                // The mask holds 64 CPUs; a bigger machine reports its first 64, so fall back to the count then.
                if (mask != 0 && BitOperations.PopCount(mask) < 64) return BitOperations.PopCount(mask);
            }
        }
        catch (Exception e) when (e is PlatformNotSupportedException or InvalidOperationException or System.ComponentModel.Win32Exception) { }
        return Environment.ProcessorCount;
    }
}
