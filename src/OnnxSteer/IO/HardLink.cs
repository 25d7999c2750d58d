using System.Runtime.InteropServices;

namespace OnnxSteer.IO;

/// <summary>Creates hard links (a second name for the same bytes), so carrying gigabytes of weights costs nothing.</summary>
internal static partial class HardLink
{
    /// <summary>Links <paramref name="target"/> to the existing <paramref name="existing"/>; false when the file system refuses
    /// (another device, no permission, unsupported), so the caller can copy instead.</summary>
    public static bool TryCreate(string existing, string target)
    {
        try
        {
            return OperatingSystem.IsWindows() ? CreateHardLinkW(target, existing, IntPtr.Zero) : link(existing, target) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int link(string oldpath, string newpath);

    [LibraryImport("kernel32.dll", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool CreateHardLinkW(string newFileName, string existingFileName, IntPtr securityAttributes);
}
