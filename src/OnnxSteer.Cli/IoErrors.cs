using System.Text.RegularExpressions;

namespace OnnxSteer.Cli;

/// <summary>
/// .NET file-system exceptions in the error contract's words: <c>&lt;path&gt;: &lt;problem&gt;</c>, naming the
/// user's path (never a temporary file's) and the exit code: a file or folder that is not there is bad input (3),
/// anything else (permission, read-only or full disk) is an I/O failure (2).
/// </summary>
public static partial class IoErrors
{
    /// <summary>The one-line message and exit code for <paramref name="e"/>.</summary>
    public static (string Line, int Code) Describe(Exception e)
    {
        var path = e is FileNotFoundException { FileName: { } f } ? f : QuotedPath(e.Message);
        var user = path is null ? null : UserPath(path);
        return e switch
        {
            FileNotFoundException or DirectoryNotFoundException => ($"{user ?? "?"}: no such file or folder", ExitCodes.InvalidInput),
            UnauthorizedAccessException => ($"{user ?? "?"}: permission denied", ExitCodes.Failure),
            _ when user is not null => ($"{user}: {Problem(e.Message)}", ExitCodes.Failure),
            _ => (e.Message, ExitCodes.Failure),
        };
    }

    /// <summary>
    /// The path a user gave for one with temporary names in it (<c>.NAME.PID.GUID.tmp</c>, as AtomicFile and the model
    /// writer's staging folders are named): each such segment becomes NAME; a private staging folder inside the
    /// target (<c>.onnxsteer.PID.GUID.tmp</c>) is dropped.
    /// </summary>
    public static string UserPath(string path) => TempSegment().Replace(path, m => m.Groups[1].Value == "onnxsteer" ? "" : "/" + m.Groups[1].Value);

    /// <summary>The problem without the path .NET appends ("Read-only file system : '/x'" → "Read-only file system").</summary>
    private static string Problem(string message)
    {
        var cut = message.IndexOf(" : '", StringComparison.Ordinal);
        var text = cut > 0 ? message[..cut] : QuotedPathPattern().Replace(message, "").Trim();
        return text.Length > 0 ? char.ToLowerInvariant(text[0]) + text[1..].TrimEnd('.') : message;
    }

    private static string? QuotedPath(string message)
    {
        var m = QuotedPathPattern().Match(message);
        return m.Success ? m.Groups[1].Value : null;
    }

    [GeneratedRegex(@"'(/[^']*)'")]
    private static partial Regex QuotedPathPattern();

    [GeneratedRegex(@"/\.([^/]+)\.\d+\.[0-9a-f]{32}\.tmp(?=/|$)")]
    private static partial Regex TempSegment();
}
