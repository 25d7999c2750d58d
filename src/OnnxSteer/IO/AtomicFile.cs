namespace OnnxSteer.IO;

/// <summary>
/// Writes a file under a temporary name in the target's folder and renames it into place, so a reader sees either
/// the old file, nothing, or the complete new file — never a partial one, even if the process is killed. Every file
/// OnnxSteer writes (profiles, models, reports) goes through it; front ends write their own outputs with it too.
/// The temporary name is hidden and marked with the process id (<c>.NAME.PID.GUID.tmp</c>); an existing file at
/// <c>path</c> is replaced — refusing to replace one is the caller's decision.
/// </summary>
public static class AtomicFile
{
    /// <summary>
    /// Writes <paramref name="path"/> (its folder created when missing) through <paramref name="write"/>, flushed to disk
    /// before the rename; on any error the temporary file is removed and <paramref name="path"/> is left as it was.
    /// </summary>
    /// <param name="path">The file to write.</param>
    /// <param name="write">Writes the content into the stream of the temporary file (do not dispose it).</param>
    /// <exception cref="IOException">The write or the rename failed; the message names the file.</exception>
    /// <exception cref="UnauthorizedAccessException">The folder is not writable.</exception>
    public static void Write(string path, Action<FileStream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var temp = TempNameFor(full);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (IOException e) when (!IoFailure.NamesAFile(e))
        {
            TryDelete(temp);
            throw IoFailure.Naming(e, full);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Writes all bytes atomically, as <see cref="Write"/>.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>Writes text (UTF-8, no BOM) atomically, as <see cref="Write"/>.</summary>
    public static void WriteAllText(string path, string text) =>
        WriteAllBytes(path, new System.Text.UTF8Encoding(false).GetBytes(text));

    /// <summary>A unique temporary name beside <paramref name="fullPath"/>, hidden and marked with the process id.</summary>
    internal static string TempNameFor(string fullPath) =>
        Path.Combine(Path.GetDirectoryName(fullPath)!,
            $".{Path.GetFileName(fullPath)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");

    internal static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
