using System.Diagnostics;
using System.Globalization;

namespace OnnxSteer.Server;

/// <summary>
/// The server's private temporary folders (patched profiles, strength adapters), named
/// <c>onnxsteer-serve-PID-…</c> so that a later server can tell a folder whose owner died (SIGKILL, a crash, a power
/// cut) from one a running server still uses, and sweep it at start: dispose removes a folder, but nothing runs after
/// SIGKILL, and a patched model is a full copy of the model.
/// </summary>
internal static class ServeTempFolders
{
    private const string Prefix = "onnxsteer-serve-";

    /// <summary>A new private folder for this process: <c>onnxsteer-serve-PID-KIND-random</c> in the temp folder.</summary>
    public static DirectoryInfo Create(string kind) =>
        Directory.CreateTempSubdirectory($"{Prefix}{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-{kind}-");

    /// <summary>
    /// Removes the folders of servers that are gone: the PID in the name runs no process, or runs one that started
    /// after the folder was made (the PID was reused). Folders without a PID (older servers) are left alone. Returns
    /// the folders removed.
    /// </summary>
    public static IReadOnlyList<string> SweepStale(string? root = null)
    {
        root ??= Path.GetTempPath();
        var removed = new List<string>();
        IEnumerable<string> candidates;
        try { candidates = Directory.EnumerateDirectories(root, Prefix + "*").ToList(); }
        catch (IOException) { return removed; }
        catch (UnauthorizedAccessException) { return removed; }
        foreach (var folder in candidates)
        {
            if (OwnerPid(Path.GetFileName(folder)) is not { } pid || pid == Environment.ProcessId) continue;
            if (IsAlive(pid, Directory.GetCreationTimeUtc(folder))) continue;
            try
            {
                Directory.Delete(folder, recursive: true);
                removed.Add(folder);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return removed;
    }

    /// <summary>The PID of <c>onnxsteer-serve-PID-…</c>, or null for any other name.</summary>
    internal static int? OwnerPid(string name)
    {
        if (!name.StartsWith(Prefix, StringComparison.Ordinal)) return null;
        var rest = name.AsSpan(Prefix.Length);
        var dash = rest.IndexOf('-');
        if (dash <= 0) return null;
        return int.TryParse(rest[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0 ? pid : null;
    }

    private static bool IsAlive(int pid, DateTime folderCreatedUtc)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            if (process.HasExited) return false;
            // A process that started after the folder was made cannot have made it: the PID was reused. The slack
            // covers the clock resolution of the two timestamps.
            return process.StartTime.ToUniversalTime() <= folderCreatedUtc.AddSeconds(2);
        }
        catch (ArgumentException) { return false; } // no such process
        catch (InvalidOperationException) { return false; }
        catch (System.ComponentModel.Win32Exception) { return true; } // not ours to inspect: leave its folder alone
    }
}
