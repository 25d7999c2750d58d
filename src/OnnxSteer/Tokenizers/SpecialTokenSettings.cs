using System.Text.Json;

namespace OnnxSteer.Tokenizers;

/// <summary>
/// BOS/EOS settings found beside a tokenizer.json: token names and add flags from tokenizer_config.json (then
/// special_tokens_map.json), ids from genai_config.json. Token names win over genai_config ids, because
/// genai_config.json is written by a model exporter and is sometimes wrong for the tokenizer (the tiny test export says BOS 0).
/// </summary>
internal sealed record SpecialTokenSettings(string? BosToken, string? EosToken, bool? AddBosToken, bool? AddEosToken,
    int? BosTokenId, int? EosTokenId)
{
    /// <summary>No settings: everything comes from tokenizer.json itself.</summary>
    public static SpecialTokenSettings Empty { get; } = new(null, null, null, null, null, null);

    /// <summary>Reads whichever of the three config files exist in <paramref name="folder"/>.</summary>
    public static SpecialTokenSettings ReadFrom(string folder)
    {
        string? bos = null, eos = null;
        bool? addBos = null, addEos = null;
        int? bosId = null, eosId = null;
        using (var config = TryRead(Path.Combine(folder, "tokenizer_config.json")))
        {
            if (config?.RootElement is { ValueKind: JsonValueKind.Object } c)
            {
                bos = TokenName(c, "bos_token");
                eos = TokenName(c, "eos_token");
                addBos = Bool(c, "add_bos_token");
                addEos = Bool(c, "add_eos_token");
            }
        }
        using (var map = TryRead(Path.Combine(folder, "special_tokens_map.json")))
        {
            if (map?.RootElement is { ValueKind: JsonValueKind.Object } m)
            {
                bos ??= TokenName(m, "bos_token");
                eos ??= TokenName(m, "eos_token");
            }
        }
        using (var genai = TryRead(Path.Combine(folder, "genai_config.json")))
        {
            if (genai?.RootElement is { ValueKind: JsonValueKind.Object } g && g.TryGetProperty("model", out var model) &&
                model.ValueKind == JsonValueKind.Object)
            {
                bosId = FirstInt(model, "bos_token_id");
                eosId = FirstInt(model, "eos_token_id");
            }
        }
        return new SpecialTokenSettings(bos, eos, addBos, addEos, bosId, eosId);
    }

    private static JsonDocument? TryRead(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new InvalidTokenizerException($"{path}: not valid JSON: {IO.JsonErrorText.Of(e)}", e);
        }
    }

    /// <summary>A token given as "text" or as {"content": "text", ...}.</summary>
    private static string? TokenName(JsonElement json, string name) =>
        !json.TryGetProperty(name, out var v) ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var content) ? content.GetString()
        : null;

    private static bool? Bool(JsonElement json, string name) =>
        json.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;

    /// <summary>An int, or the first of an array of ints (several EOS ids are common).</summary>
    private static int? FirstInt(JsonElement json, string name)
    {
        if (!json.TryGetProperty(name, out var v)) return null;
        if (v.ValueKind == JsonValueKind.Number) return v.GetInt32();
        if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() > 0 && v[0].ValueKind == JsonValueKind.Number) return v[0].GetInt32();
        return null;
    }
}
