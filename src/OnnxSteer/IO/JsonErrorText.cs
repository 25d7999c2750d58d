using System.Text.Json;
using System.Text.RegularExpressions;

namespace OnnxSteer.IO;

/// <summary>
/// A System.Text.Json error in the user's words: without .NET's internals ("isFinalBlock is true", "System.Int32",
/// "Path: $.x | LineNumber: 0 | BytePositionInLine: 3"), which name nothing a user can act on.
/// </summary>
internal static partial class JsonErrorText
{
    public static string Of(JsonException e)
    {
        var message = e.Message;
        if (message.Contains("isFinalBlock", StringComparison.Ordinal) || message.Contains("Expected depth to be zero", StringComparison.Ordinal)
            || message.Contains("end of data", StringComparison.Ordinal) || message.Contains("reached the end", StringComparison.OrdinalIgnoreCase))
            return "the file ends before its JSON does (cut short?)";
        var reason = message.Split(" Path:")[0].Split(" LineNumber:")[0].Split(" | ")[0].Trim().TrimEnd('.');
        reason = TypeName().Replace(reason, m => m.Groups[1].Value switch
        {
            "Int32" or "Int64" or "UInt32" or "UInt64" or "Int16" or "Byte" => "a whole number",
            "Double" or "Single" or "Decimal" => "a number",
            "String" => "a string",
            "Boolean" => "true or false",
            _ => "a value of another kind",
        });
        return reason;
    }

    [GeneratedRegex(@"System\.(?:Nullable`1\[System\.)?([A-Za-z0-9]+)\]?(?:\[\])?")]
    private static partial Regex TypeName();
}
