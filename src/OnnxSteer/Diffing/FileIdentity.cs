using System.Runtime.InteropServices;

namespace OnnxSteer.Diffing;

/// <summary>
/// Decides whether two real paths (links already resolved, see <see cref="OnnxSteer.ModelFiles.RealPath"/>) name the
/// same file: the same path, or (on Linux) the same device and inode, which also catches hard links and bind mounts.
/// </summary>
internal static partial class FileIdentity
{
    /// <summary>True when <paramref name="a"/> and <paramref name="b"/> are provably one file.</summary>
    public static bool Same(string a, string b)
    {
        if (string.Equals(a, b, StringComparison.Ordinal)) return true;
        var ia = DeviceAndInode(a);
        return ia is not null && ia == DeviceAndInode(b);
    }

    /// <summary>(st_dev, st_ino) from stat(2) on Linux glibc x64/arm64, where both are the first two 64-bit fields; else null.</summary>
    private static (ulong Dev, ulong Ino)? DeviceAndInode(string path)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64))
            return null;
        Span<ulong> buffer = stackalloc ulong[32]; // struct stat is 144 (x64) or 128 (arm64) bytes
        try
        {
            unsafe
            {
                fixed (ulong* p = buffer)
                    if (stat(path, p) != 0) return null;
            }
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return null; // a libc without a plain stat symbol (glibc < 2.33, musl variants): path comparison only
        }
        return (buffer[0], buffer[1]);
    }

    [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int stat(string path, ulong* buffer);
}
