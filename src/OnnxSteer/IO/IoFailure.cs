using System.Text.RegularExpressions;

namespace OnnxSteer.IO;

/// <summary>
/// Gives a file-system error the file it happened to. .NET leaves the path out of some messages (a full disk met while
/// copying or flushing says only "No space left on device"); the error contract (<c>&lt;file&gt;: &lt;problem&gt;</c>)
/// needs one, so writers rethrow such errors naming the output they were writing, in .NET's own
/// <c>message : 'path'</c> form that the CLI's error line reads.
/// </summary>
internal static partial class IoFailure
{
    /// <summary>Whether <paramref name="e"/>'s message already names an absolute path.</summary>
    public static bool NamesAFile(IOException e) =>
        e is FileNotFoundException { FileName: not null } || QuotedPath().IsMatch(e.Message);

    /// <summary>
    /// <paramref name="e"/> itself when it names a file, else an <see cref="IOException"/> with its message naming
    /// <paramref name="path"/> (made absolute), the original as the inner exception and the same HResult.
    /// </summary>
    public static IOException Naming(IOException e, string path) =>
        NamesAFile(e) ? e : new IOException($"{e.Message.TrimEnd('.')} : '{Path.GetFullPath(path)}'", e) { HResult = e.HResult };

    [GeneratedRegex(@"'/[^']*'")]
    private static partial Regex QuotedPath();
}
