using System.Text.Json;

namespace OnnxSteer.ModelFiles;

/// <summary>
/// What a decoder's <c>genai_config.json</c> (onnxruntime-genai's format) says about running it: the model file, input
/// and output names (KV names as printf templates with <c>%d</c>), head sizes, context length and special token ids.
/// Missing fields stay null and are then inferred from the session.
/// </summary>
public sealed record GenaiConfigFile
{
    internal GenaiConfigFile() { }

    /// <summary>The file name looked for beside a model.</summary>
    public const string FileName = "genai_config.json";

    /// <summary>The file read (full path as given).</summary>
    public string? Path { get; internal init; }
    /// <summary>The decoder file (<c>model.decoder.filename</c>), relative to the folder.</summary>
    public string? ModelFileName { get; internal init; }
    /// <summary>The token ids input.</summary>
    public string? InputIdsName { get; internal init; }
    /// <summary>The attention mask input.</summary>
    public string? AttentionMaskName { get; internal init; }
    /// <summary>The position ids input.</summary>
    public string? PositionIdsName { get; internal init; }
    /// <summary>The past keys inputs, a template with <c>%d</c> for the layer.</summary>
    public string? PastKeyFormat { get; internal init; }
    /// <summary>The past values inputs, a template with <c>%d</c> for the layer.</summary>
    public string? PastValueFormat { get; internal init; }
    /// <summary>The logits output.</summary>
    public string? LogitsName { get; internal init; }
    /// <summary>The present keys outputs, a template with <c>%d</c> for the layer.</summary>
    public string? PresentKeyFormat { get; internal init; }
    /// <summary>The present values outputs, a template with <c>%d</c> for the layer.</summary>
    public string? PresentValueFormat { get; internal init; }
    /// <summary>Decoder layers.</summary>
    public int? NumHiddenLayers { get; internal init; }
    /// <summary>Key/value heads per layer.</summary>
    public int? NumKeyValueHeads { get; internal init; }
    /// <summary>Size of one attention head.</summary>
    public int? HeadSize { get; internal init; }
    /// <summary>The longest sequence (prompt and generation) the model takes.</summary>
    public int? ContextLength { get; internal init; }
    /// <summary>Vocabulary size (logits per position).</summary>
    public int? VocabSize { get; internal init; }
    /// <summary>The beginning-of-sequence token.</summary>
    public int? BosTokenId { get; internal init; }
    /// <summary>The padding token.</summary>
    public int? PadTokenId { get; internal init; }
    /// <summary>The tokens generation stops at (empty when none is given).</summary>
    public IReadOnlyList<int> EosTokenIds { get; internal init; } = [];

    /// <summary>Reads <c>genai_config.json</c> from <paramref name="directory"/>; null when there is none.</summary>
    /// <exception cref="InvalidModelException">The file is malformed.</exception>
    public static GenaiConfigFile? TryRead(string directory)
    {
        var path = System.IO.Path.Combine(directory, FileName);
        return File.Exists(path) ? Read(path) : null;
    }

    /// <summary>Reads a genai_config.json file; a malformed one is an <see cref="InvalidModelException"/>.</summary>
    public static GenaiConfigFile Read(string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidModelException($"{path}: not valid JSON ({IO.JsonErrorText.Of(e)})", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw new InvalidModelException($"{path}: no \"model\" object (not an onnxruntime-genai config)");
            var decoder = Child(model, "decoder");
            var inputs = decoder is { } d ? Child(d, "inputs") : null;
            var outputs = decoder is { } d2 ? Child(d2, "outputs") : null;
            try
            {
                return new GenaiConfigFile
                {
                    Path = System.IO.Path.GetFullPath(path),
                    ModelFileName = Str(decoder, "filename"),
                    InputIdsName = Str(inputs, "input_ids"),
                    AttentionMaskName = Str(inputs, "attention_mask"),
                    PositionIdsName = Str(inputs, "position_ids"),
                    PastKeyFormat = Str(inputs, "past_key_names"),
                    PastValueFormat = Str(inputs, "past_value_names"),
                    LogitsName = Str(outputs, "logits"),
                    PresentKeyFormat = Str(outputs, "present_key_names"),
                    PresentValueFormat = Str(outputs, "present_value_names"),
                    NumHiddenLayers = Int(decoder, "num_hidden_layers"),
                    NumKeyValueHeads = Int(decoder, "num_key_value_heads"),
                    HeadSize = Int(decoder, "head_size"),
                    ContextLength = Int(model, "context_length"),
                    VocabSize = Int(model, "vocab_size"),
                    BosTokenId = Int(model, "bos_token_id"),
                    PadTokenId = Int(model, "pad_token_id"),
                    EosTokenIds = Ints(model, "eos_token_id"),
                };
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new InvalidModelException($"{path}: a field has the wrong type ({e.Message})", e);
            }
        }
    }

    /// <summary>Fills a <c>%d</c> name template with a layer number.</summary>
    internal static string LayerName(string format, int layer) =>
        format.Replace("%d", layer.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);

    private static JsonElement? Child(JsonElement e, string name) =>
        e.TryGetProperty(name, out var c) && c.ValueKind == JsonValueKind.Object ? c : null;

    private static string? Str(JsonElement? e, string name) =>
        Field(e, name) is { } v ? v.ValueKind == JsonValueKind.String ? v.GetString() : throw new FormatException($"\"{name}\" is not a string") : null;

    private static int? Int(JsonElement? e, string name) =>
        Field(e, name) is { } v ? v.ValueKind == JsonValueKind.Number ? v.GetInt32() : throw new FormatException($"\"{name}\" is not a number") : null;

    /// <summary>A field that is present and not null.</summary>
    private static JsonElement? Field(JsonElement? e, string name) =>
        e is { } o && o.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static IReadOnlyList<int> Ints(JsonElement e, string name)
    {
        if (Field(e, name) is not { } v) return [];
        return v.ValueKind switch
        {
            JsonValueKind.Number => [v.GetInt32()],
            JsonValueKind.Array => v.EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            _ => throw new FormatException($"\"{name}\" is not a number or a list of numbers"),
        };
    }
}
