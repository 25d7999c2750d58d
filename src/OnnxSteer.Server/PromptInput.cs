using System.Text.Json;

namespace OnnxSteer.Server;

/// <summary>
/// One completion prompt as the client gave it: text (encoded by the server, BOS added) or token ids (used exactly as
/// given, as lm-evaluation-harness sends them: it has already decided about BOS).
/// </summary>
public sealed record PromptInput
{
    /// <summary>Most prompts one request may carry (each is answered by its own choice).</summary>
    public const int MaxPrompts = 256;

    /// <summary>The prompt text; null when given as ids.</summary>
    public string? Text { get; private init; }

    /// <summary>The prompt ids; null when given as text.</summary>
    public IReadOnlyList<int>? Ids { get; private init; }

    /// <summary>A text prompt.</summary>
    public static PromptInput FromText(string text) => new() { Text = text };

    /// <summary>A prompt of token ids.</summary>
    public static PromptInput FromIds(IReadOnlyList<int> ids) => new() { Ids = ids };

    /// <summary>
    /// Reads <c>prompt</c> in every shape the OpenAI completions API takes: a string, an array of strings, an array of
    /// token ids, or an array of arrays of token ids. Throws <see cref="ApiError"/> (400) for anything else.
    /// </summary>
    internal static IReadOnlyList<PromptInput> ReadAll(JsonElement root)
    {
        const string shapes = "prompt must be a string, an array of strings, an array of token ids or an array of arrays of token ids";
        if (!root.TryGetProperty("prompt", out var p) || p.ValueKind == JsonValueKind.Null) throw ApiError.Bad("prompt is required", "prompt");
        if (p.ValueKind == JsonValueKind.String) return [FromText(p.GetString()!)];
        if (p.ValueKind != JsonValueKind.Array || p.GetArrayLength() == 0) throw ApiError.Bad(shapes, "prompt");
        if (p.GetArrayLength() > MaxPrompts) throw ApiError.Bad($"prompt: at most {MaxPrompts} prompts per request", "prompt");
        var first = p[0].ValueKind;
        var list = new List<PromptInput>();
        foreach (var item in p.EnumerateArray())
        {
            if (item.ValueKind != first) throw ApiError.Bad(shapes + " (not a mix)", "prompt");
            switch (item.ValueKind)
            {
                case JsonValueKind.String: list.Add(FromText(item.GetString()!)); break;
                case JsonValueKind.Array: list.Add(FromIds(ReadIds(item, $"prompt[{list.Count}]"))); break;
                case JsonValueKind.Number: break;
                default: throw ApiError.Bad(shapes, "prompt");
            }
        }
        return first == JsonValueKind.Number ? [FromIds(ReadIds(p, "prompt"))] : list;
    }

    private static int[] ReadIds(JsonElement array, string at)
    {
        if (array.GetArrayLength() == 0) throw ApiError.Bad($"{at}: an empty list of token ids", "prompt");
        var ids = new int[array.GetArrayLength()];
        var i = 0;
        foreach (var id in array.EnumerateArray())
        {
            if (id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out var v) || v < 0)
                throw ApiError.Bad($"{at}[{i}] must be a token id (a non-negative integer)", "prompt");
            ids[i++] = v;
        }
        return ids;
    }
}

/// <summary>
/// The log-probabilities a request asks for: completions' <c>logprobs: N</c>, chat's <c>logprobs: true</c> with
/// <c>top_logprobs: N</c>. Each token then carries its own log-probability and the <see cref="Top"/> most likely
/// alternatives at its position.
/// </summary>
public sealed record LogprobRequest(int Top)
{
    /// <summary>The most alternatives per token a request may ask for.</summary>
    public const int MaxTop = 20;

    /// <summary>The request's log-probability fields, or null when it asks for none.</summary>
    internal static LogprobRequest? Read(JsonElement root, ApiKind kind)
    {
        if (kind == ApiKind.Completion)
            return ApiRequest.OptionalInt(root, "logprobs", 0, MaxTop) is { } n ? new LogprobRequest(n) : null;
        var top = ApiRequest.OptionalInt(root, "top_logprobs", 0, MaxTop);
        if (ApiRequest.OptionalBool(root, "logprobs") != true)
            return top is null ? null : throw ApiError.Bad("top_logprobs needs logprobs: true", "top_logprobs");
        return new LogprobRequest(top ?? 0);
    }

    /// <summary>Completions' <c>echo</c> (chat has none).</summary>
    internal static bool ReadEcho(JsonElement root, ApiKind kind) =>
        kind == ApiKind.Completion && ApiRequest.OptionalBool(root, "echo") == true;
}
