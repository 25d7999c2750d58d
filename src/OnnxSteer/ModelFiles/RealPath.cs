namespace OnnxSteer.ModelFiles;

/// <summary>
/// Resolves every symbolic link in a path, like POSIX <c>realpath</c>, so that containment checks see where a file
/// really is. .NET only resolves the last component of a path, and a link in a folder above would slip through.
/// </summary>
public static class RealPath
{
    private const int MaxLinks = 40; // Linux's own limit before ELOOP

    /// <summary>The absolute path of <paramref name="path"/> with all links resolved. Components that do not exist are
    /// kept as written. Two paths name the same file when their resolved forms are equal (ordinal).</summary>
    /// <exception cref="IOException">A link loop (more than 40 links).</exception>
    public static string Resolve(string path)
    {
        var hops = 0;
        var pending = Path.GetFullPath(path);
        while (true)
        {
            var root = Path.GetPathRoot(pending)!;
            var parts = pending[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
            var current = root;
            string? restart = null;
            for (var i = 0; i < parts.Length; i++)
            {
                var next = Path.Combine(current, parts[i]);
                var target = LinkTarget(next);
                if (target is null)
                {
                    current = next;
                    continue;
                }
                if (++hops > MaxLinks) throw new IOException($"{path}: too many levels of symbolic links");
                // A relative target is relative to the link's own folder, which is already free of links.
                var resolvedTarget = Path.IsPathRooted(target) ? target : Path.Combine(current, target);
                restart = Path.GetFullPath(Path.Combine([resolvedTarget, .. parts[(i + 1)..]]));
                break;
            }
            if (restart is null) return current;
            pending = restart;
        }
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="folder"/> itself or lies inside it (both resolved).</summary>
    internal static bool IsInside(string path, string folder)
    {
        var f = folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar;
        var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return path.StartsWith(f, comparison) || string.Equals(path + Path.DirectorySeparatorChar, f, comparison);
    }

    private static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
