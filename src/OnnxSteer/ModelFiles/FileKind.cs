using System.Runtime.InteropServices;

namespace OnnxSteer.ModelFiles;

/// <summary>
/// Tells a regular file from a device, FIFO, socket or folder. .NET does not expose the file type on Unix, and opening
/// a FIFO to find out would block, so on Linux this asks the kernel with <c>statx</c>.
/// </summary>
internal static class FileKind
{
    /// <summary>True when <paramref name="path"/> (links followed) is an ordinary file.</summary>
    public static bool IsRegularFile(string path)
    {
        if (Directory.Exists(path) || !File.Exists(path)) return false;
        if (!OperatingSystem.IsLinux()) return true; // elsewhere File.Exists already excludes folders; devices are Linux's concern here
        try
        {
            var buffer = new byte[256]; // struct statx is 256 bytes on every architecture
            if (StatX(AtFdCwd, path, 0, StatxType, buffer) != 0) return false;
            var mode = BitConverter.ToUInt16(buffer, 28); // stx_mode
            return (mode & SIfmt) == SIfreg;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return true; // a C library without statx (very old glibc): fall back to the checks above
        }
    }

    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1;
    private const int SIfmt = 0xF000;
    private const int SIfreg = 0x8000;

    // DllImport rather than LibraryImport: it needs no unsafe code in the project. On Unix, strings marshal as UTF-8.
    [DllImport("libc.so.6", EntryPoint = "statx", SetLastError = true)]
    private static extern int StatX(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, [Out] byte[] buffer);
}
