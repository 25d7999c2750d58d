using System.Text.Json;
using System.Text.Unicode;

namespace OnnxSteer.Server;

/// <summary>
/// What a request body must be before any field is read: UTF-8, every string valid Unicode (no lone surrogate, raw or
/// escaped as <c>\ud800</c>), and no key twice in one object — System.Text.Json lets the last duplicate win, so a body
/// could carry two readings of one field (one checked by a proxy, the other obeyed here).
/// </summary>
internal static class JsonBodyCheck
{
    /// <summary>Throws 400 when <paramref name="body"/> is not valid UTF-8.</summary>
    public static void RequireUtf8(ReadOnlySpan<byte> body)
    {
        if (!Utf8.IsValid(body)) throw ApiError.Bad("the body is not valid UTF-8", code: "invalid_encoding");
    }

    /// <summary>Throws 400 for a duplicate key or a string that is not valid Unicode anywhere in <paramref name="root"/>.</summary>
    public static void Check(JsonElement root) => Walk(root, "");

    private static void Walk(JsonElement e, string at)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var p in e.EnumerateObject())
                {
                    var name = Text(() => p.Name, at.Length == 0 ? "a key" : $"a key of {at}");
                    var path = at.Length == 0 ? name : $"{at}.{name}";
                    if (!seen.Add(name)) throw ApiError.Bad($"{LogText.Escape(path)}: the key is given twice", LogText.Escape(path), "duplicate_key");
                    Walk(p.Value, path);
                }
                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in e.EnumerateArray()) Walk(item, $"{at}[{i++}]");
                break;
            case JsonValueKind.String:
                Text(e.GetString, at);
                break;
        }
    }

    private static string Text(Func<string?> read, string at)
    {
        try { return read() ?? ""; }
        catch (InvalidOperationException)
        {
            var where = LogText.Escape(at.Length == 0 ? "the body" : at);
            throw ApiError.Bad($"{where}: the string is not valid Unicode (a lone surrogate or invalid UTF-8)", at.Length == 0 ? null : where, "invalid_encoding");
        }
    }
}
