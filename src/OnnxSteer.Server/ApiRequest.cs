using System.Text.Json;

namespace OnnxSteer.Server;

/// <summary>Which endpoint a request came to.</summary>
public enum ApiKind
{
    /// <summary>/v1/completions: a prompt to continue.</summary>
    Completion,
    /// <summary>/v1/chat/completions: messages, through the model's chat template.</summary>
    Chat,
}

/// <summary>One chat message (text content only).</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>
/// A completion or chat request, read and checked: every field the server honours, with OpenAI's defaults. Fields it
/// does not know are ignored, as OpenAI clients send many; fields it knows but cannot honour (n &gt; 1) are refused.
/// </summary>
public sealed record ApiRequest
{
    public required ApiKind Kind { get; init; }
    public required string Model { get; init; }
    /// <summary>The completion prompt as text (completions only; the first prompt when several are given).</summary>
    public string? Prompt { get; init; }
    /// <summary>Every completion prompt, text or token ids, one choice each (completions only).</summary>
    public IReadOnlyList<PromptInput> Prompts { get; init; } = [];
    /// <summary>Log-probabilities asked for (completions' <c>logprobs</c>, chat's <c>logprobs</c> + <c>top_logprobs</c>); null = none.</summary>
    public LogprobRequest? Logprobs { get; init; }
    /// <summary>echo: the answer repeats the prompt (completions only), with its tokens' log-probabilities when asked.</summary>
    public bool Echo { get; init; }
    /// <summary>The messages (chat only).</summary>
    public IReadOnlyList<ChatMessage> Messages { get; init; } = [];
    /// <summary>max_tokens (or chat's max_completion_tokens); null = the server's default.</summary>
    public int? MaxTokens { get; init; }
    public float Temperature { get; init; } = 1f;
    public float TopP { get; init; } = 1f;
    /// <summary>top_k (vLLM's extension field): sample among this many most likely tokens; 0 or -1 = no limit.</summary>
    public int TopK { get; init; }
    public int? Seed { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    public bool Stream { get; init; }
    /// <summary>stream_options.include_usage: a last chunk with the token counts.</summary>
    public bool IncludeUsage { get; init; }
    /// <summary>The steering asked for: the <c>steering</c> field, or a profile named in the model id.</summary>
    public SteeringChoice Steering { get; init; } = SteeringChoice.Vanilla;

    /// <summary>Reads and checks <paramref name="body"/> for endpoint <paramref name="kind"/>; throws <see cref="ApiError"/> (400).</summary>
    public static ApiRequest Parse(ReadOnlySpan<byte> body, ApiKind kind, ServeLimits limits)
    {
        JsonBodyCheck.RequireUtf8(body);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 16 }); }
        catch (JsonException e) { throw ApiError.Bad($"the body is not valid JSON: {e.Message}"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw ApiError.Bad("the body must be a JSON object");
            JsonBodyCheck.Check(root);
            var model = RequiredString(root, "model");
            var request = new ApiRequest
            {
                Kind = kind,
                Model = model,
                Prompts = kind == ApiKind.Completion ? PromptInput.ReadAll(root) : [],
                Messages = kind == ApiKind.Chat ? ReadMessages(root) : [],
                MaxTokens = ReadMaxTokens(root, kind, limits, LogprobRequest.ReadEcho(root, kind)),
                Logprobs = LogprobRequest.Read(root, kind),
                Echo = LogprobRequest.ReadEcho(root, kind),
                Temperature = OptionalNumber(root, "temperature", 0, 2) ?? 1f,
                TopP = OptionalNumber(root, "top_p", 0, 1, lowOpen: true) ?? 1f,
                TopK = Math.Max(0, OptionalInt(root, "top_k", -1, int.MaxValue) ?? 0),
                Seed = OptionalInt(root, "seed", int.MinValue, int.MaxValue),
                Stop = ReadStop(root),
                Stream = OptionalBool(root, "stream") ?? false,
                IncludeUsage = root.TryGetProperty("stream_options", out var so) && so.ValueKind == JsonValueKind.Object
                               && OptionalBool(so, "include_usage", "stream_options.include_usage") == true,
                Steering = ReadSteering(root, limits),
            };
            if (OptionalInt(root, "n", 1, int.MaxValue) is > 1) throw ApiError.Bad("n: only 1 choice per request is supported", "n");
            return request with { Prompt = request.Prompts.FirstOrDefault()?.Text };
        }
    }

    private static string RequiredString(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) throw ApiError.Bad($"{name} is required", name);
        if (v.ValueKind != JsonValueKind.String) throw ApiError.Bad($"{name} must be a string", name);
        return v.GetString()!;
    }

    private static IReadOnlyList<ChatMessage> ReadMessages(JsonElement root)
    {
        if (!root.TryGetProperty("messages", out var m) || m.ValueKind != JsonValueKind.Array || m.GetArrayLength() == 0)
            throw ApiError.Bad("messages must be a non-empty array", "messages");
        var list = new List<ChatMessage>();
        foreach (var item in m.EnumerateArray())
        {
            var at = $"messages[{list.Count}]";
            if (item.ValueKind != JsonValueKind.Object) throw ApiError.Bad($"{at} must be an object", at);
            if (!item.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
                throw ApiError.Bad($"{at}.role must be a string", $"{at}.role");
            list.Add(new ChatMessage(role.GetString()!, ReadContent(item, at)));
        }
        return list;
    }

    /// <summary>A message's text: a string, or an array of text parts joined.</summary>
    private static string ReadContent(JsonElement message, string at)
    {
        if (!message.TryGetProperty("content", out var c) || c.ValueKind == JsonValueKind.Null) return "";
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind == JsonValueKind.Array)
        {
            var parts = new List<string>();
            foreach (var part in c.EnumerateArray())
            {
                if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String
                    || t.GetString() != "text" || !part.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                    throw ApiError.Bad($"{at}.content: only text parts are supported", $"{at}.content");
                parts.Add(text.GetString()!);
            }
            return string.Concat(parts);
        }
        throw ApiError.Bad($"{at}.content must be a string or an array of text parts", $"{at}.content");
    }

    /// <summary>max_tokens: at least 1, or 0 with echo (the prompt's log-probabilities alone, as lm-evaluation-harness asks).</summary>
    private static int? ReadMaxTokens(JsonElement root, ApiKind kind, ServeLimits limits, bool echo)
    {
        var name = kind == ApiKind.Chat && root.TryGetProperty("max_completion_tokens", out var mct) && mct.ValueKind != JsonValueKind.Null
            ? "max_completion_tokens" : "max_tokens";
        var value = OptionalInt(root, name, echo ? 0 : 1, int.MaxValue);
        if (value > limits.MaxTokens) throw ApiError.Bad($"{name} {value}: this server allows at most {limits.MaxTokens}", name);
        return value;
    }

    private static IReadOnlyList<string> ReadStop(JsonElement root)
    {
        if (!root.TryGetProperty("stop", out var s) || s.ValueKind == JsonValueKind.Null) return [];
        if (s.ValueKind == JsonValueKind.String) return s.GetString()!.Length > 0 ? [s.GetString()!] : throw ApiError.Bad("stop strings must not be empty", "stop");
        if (s.ValueKind != JsonValueKind.Array || s.GetArrayLength() > 4) throw ApiError.Bad("stop must be a string or an array of up to 4 strings", "stop");
        var list = new List<string>();
        foreach (var item in s.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || item.GetString()!.Length == 0) throw ApiError.Bad("stop must hold non-empty strings", "stop");
            list.Add(item.GetString()!);
        }
        return list;
    }

    private static SteeringChoice ReadSteering(JsonElement root, ServeLimits limits)
    {
        if (!root.TryGetProperty("steering", out var s) || s.ValueKind == JsonValueKind.Null) return SteeringChoice.Vanilla;
        if (s.ValueKind == JsonValueKind.Array) return ComposedSteeringRequest.Read(s, limits);
        if (s.ValueKind != JsonValueKind.Object)
            throw ApiError.Bad("steering must be an object: {\"profile\": NAME, \"strength\": S}, or a list of them", "steering");
        foreach (var p in s.EnumerateObject())
            if (p.Name is not ("profile" or "strength")) throw ApiError.Bad($"steering.{p.Name}: unknown field (profile and strength are)", "steering");
        if (!s.TryGetProperty("profile", out var profile) || profile.ValueKind != JsonValueKind.String)
            throw ApiError.Bad("steering.profile must be the name of a profile the server loaded", "steering.profile");
        var strength = OptionalNumber(s, "strength", -limits.MaxStrength, limits.MaxStrength, label: "steering.strength") ?? 1f;
        return new SteeringChoice(profile.GetString(), strength);
    }

    internal static bool? OptionalBool(JsonElement root, string name, string? label = null)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiError.Bad($"{label ?? name} must be true or false", label ?? name),
        };
    }

    internal static int? OptionalInt(JsonElement root, string name, long min, long max)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var n)) throw ApiError.Bad($"{name} must be an integer", name);
        if (n < min || n > max) throw ApiError.Bad($"{name} {n}: must be {(max == int.MaxValue ? $"at least {min}" : $"in [{min}, {max}]")}", name);
        return (int)n;
    }

    internal static float? OptionalNumber(JsonElement root, string name, float min, float max, bool lowOpen = false, string? label = null)
    {
        label ??= name;
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var d) || !double.IsFinite(d)) throw ApiError.Bad($"{label} must be a number", label);
        if (d > max || d < min || (lowOpen && d <= min))
            throw ApiError.Bad($"{label} {d}: must be in {(lowOpen ? "(" : "[")}{min}, {max}]", label);
        return (float)d;
    }
}

/// <summary>What the server accepts: request size, token counts, strength range.</summary>
public sealed record ServeLimits
{
    /// <summary>Largest request body in bytes.</summary>
    public int MaxBodyBytes { get; init; } = 1 << 20;

    /// <summary>Largest max_tokens a request may ask for.</summary>
    public int MaxTokens { get; init; } = 1024;

    /// <summary>max_tokens when a request gives none.</summary>
    public int DefaultMaxTokens { get; init; } = 16;

    /// <summary>Largest |strength| a request may ask for.</summary>
    public float MaxStrength { get; init; } = 4f;
}
