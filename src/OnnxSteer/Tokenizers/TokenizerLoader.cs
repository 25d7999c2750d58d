using System.Text;
using System.Text.Json;

namespace OnnxSteer.Tokenizers;

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c> (BPE models: SentencePiece-style with byte fallback, or byte-level) and
/// the BOS/EOS settings beside it (tokenizer_config.json, special_tokens_map.json, genai_config.json), or a llama2.c
/// <c>tok*.bin</c>.
/// </summary>
public static class TokenizerLoader
{
    /// <summary>
    /// Loads a tokenizer from a model folder (its tokenizer.json, else its single tok*.bin), a tokenizer.json file, or a
    /// llama2.c tok*.bin file. BOS/EOS come from tokenizer_config.json, then special_tokens_map.json, then
    /// genai_config.json, then the post-processor template; a tokenizer.json alone falls back to well-known EOS names.
    /// </summary>
    /// <exception cref="InvalidTokenizerException">No tokenizer there, or one that cannot be read.</exception>
    public static ITokenizer Load(string modelDirOrTokenizerJson) => LoadBpe(modelDirOrTokenizerJson);

    /// <summary>As <see cref="Load"/>, as the BPE tokenizer it is (its vocabulary and pieces).</summary>
    internal static BpeTokenizer LoadBpe(string modelDirOrTokenizerJson)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDirOrTokenizerJson);
        var path = ResolveTokenizerFile(modelDirOrTokenizerJson);
        if (path.EndsWith(".bin", StringComparison.OrdinalIgnoreCase))
            return FromJson(Llama2cTokenizerFile.Read(path).ToTokenizerJson(), SpecialTokenSettings.Empty, path);
        string json;
        try
        {
            json = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (IOException e)
        {
            throw new InvalidTokenizerException($"{path}: cannot read the tokenizer: {e.Message}", e);
        }
        return FromJson(json, SpecialTokenSettings.ReadFrom(Path.GetDirectoryName(Path.GetFullPath(path))!), path);
    }

    /// <summary>Builds a tokenizer from tokenizer.json text; <paramref name="source"/> names it in error messages.</summary>
    internal static BpeTokenizer FromJson(string tokenizerJson, SpecialTokenSettings? settings = null, string source = "tokenizer.json")
    {
        settings ??= SpecialTokenSettings.Empty;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(tokenizerJson, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new InvalidTokenizerException($"{source}: not valid JSON: {IO.JsonErrorText.Of(e)}", e);
        }
        using (document)
        {
            try
            {
                return Build(document.RootElement, settings, source);
            }
            catch (Exception e) when (e is InvalidOperationException or KeyNotFoundException or FormatException or ArgumentException)
            {
                throw new InvalidTokenizerException($"{source}: malformed tokenizer: {e.Message}", e);
            }
            catch (InvalidTokenizerException e) when (!e.Message.StartsWith(source, StringComparison.Ordinal))
            {
                throw new InvalidTokenizerException($"{source}: {e.Message}", e);
            }
        }
    }

    private static string ResolveTokenizerFile(string path)
    {
        if (File.Exists(path)) return path;
        if (!Directory.Exists(path)) throw new InvalidTokenizerException($"{path}: no such tokenizer file or model folder");
        var json = Path.Combine(path, "tokenizer.json");
        if (File.Exists(json)) return json;
        // transformers.js repositories keep the models in onnx/ and the tokenizer one folder up.
        var above = Path.Combine(path, "..", "tokenizer.json");
        if (Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path))) == "onnx" && File.Exists(above)) return Path.GetFullPath(above);
        var bins = Directory.GetFiles(path, "tok*.bin");
        if (bins.Length == 1) return bins[0];
        throw new InvalidTokenizerException(bins.Length > 1
            ? $"{path}: several tok*.bin files and no tokenizer.json; pass the tokenizer file itself"
            : $"{path}: no tokenizer.json (or llama2.c tok*.bin) in this folder");
    }

    private static BpeTokenizer Build(JsonElement root, SpecialTokenSettings settings, string source)
    {
        if (!root.TryGetProperty("model", out var modelJson) || modelJson.ValueKind != JsonValueKind.Object)
            throw new InvalidTokenizerException($"{source}: no \"model\" object");
        var type = OptString(modelJson, "type") ?? (modelJson.TryGetProperty("merges", out _) ? "BPE" : "unknown");
        if (type != "BPE")
            throw new InvalidTokenizerException($"{source}: model type '{type}' is not supported (only BPE tokenizers are)");

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in Required(modelJson, "vocab", source).EnumerateObject()) vocab[entry.Name] = entry.Value.GetInt32();
        var merges = ReadMerges(modelJson, source);
        var model = new BpeModel(vocab, merges,
            unkToken: OptString(modelJson, "unk_token"),
            byteFallback: OptBool(modelJson, "byte_fallback") ?? false,
            fuseUnk: OptBool(modelJson, "fuse_unk") ?? false,
            ignoreMerges: OptBool(modelJson, "ignore_merges") ?? false,
            continuingSubwordPrefix: OptString(modelJson, "continuing_subword_prefix"),
            endOfWordSuffix: OptString(modelJson, "end_of_word_suffix"));

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedJson) && addedJson.ValueKind == JsonValueKind.Array)
            foreach (var t in addedJson.EnumerateArray())
                added.Add(new AddedToken(t.GetProperty("id").GetInt32(), t.GetProperty("content").GetString()!,
                    OptBool(t, "special") ?? false, OptBool(t, "lstrip") ?? false, OptBool(t, "rstrip") ?? false,
                    OptBool(t, "single_word") ?? false));
        var addedVocabulary = new AddedVocabulary(added);

        int? IdOf(string? token)
        {
            if (token is null) return null;
            foreach (var t in added) if (t.Content == token) return t.Id;
            return vocab.TryGetValue(token, out var id) ? id : null;
        }

        var (templatePrefix, templateSuffix) = ReadTemplate(Opt(root, "post_processor"), IdOf, source);
        var bos = IdOf(settings.BosToken) ?? settings.BosTokenId ?? (templatePrefix is { Count: > 0 } ? templatePrefix[0] : (int?)null);
        var eos = IdOf(settings.EosToken) ?? settings.EosTokenId ?? (templateSuffix is { Count: > 0 } ? templateSuffix[^1] : (int?)null)
                  ?? WellKnownEos.Select(IdOf).FirstOrDefault(id => id is not null);

        IReadOnlyList<int> prefix = settings.AddBosToken is { } addBos ? (addBos && bos is { } b ? [b] : []) : templatePrefix ?? [];
        IReadOnlyList<int> suffix = settings.AddEosToken is { } addEos ? (addEos && eos is { } e ? [e] : []) : templateSuffix ?? [];

        return new BpeTokenizer(model, addedVocabulary,
            ReadNormalizer(Opt(root, "normalizer"), source),
            ReadPreTokenizer(Opt(root, "pre_tokenizer"), source),
            ReadDecoder(Opt(root, "decoder"), source),
            prefix, suffix, bos, eos);
    }

    private static readonly string[] WellKnownEos = ["</s>", "<|endoftext|>", "<|end_of_text|>", "<|im_end|>", "<|eot_id|>", "<eos>"];

    private static List<(string, string)> ReadMerges(JsonElement model, string source)
    {
        var merges = new List<(string, string)>();
        if (!model.TryGetProperty("merges", out var json) || json.ValueKind == JsonValueKind.Null) return merges;
        foreach (var merge in json.EnumerateArray())
        {
            if (merge.ValueKind == JsonValueKind.Array)
            {
                if (merge.GetArrayLength() != 2) throw new InvalidTokenizerException($"{source}: merge {merges.Count} does not have two parts");
                merges.Add((merge[0].GetString()!, merge[1].GetString()!));
                continue;
            }
            var text = merge.GetString()!;
            var space = text.IndexOf(' ', 1);
            if (space < 0 || text.IndexOf(' ', space + 1) >= 0)
                throw new InvalidTokenizerException($"{source}: merge {merges.Count} ('{text}') is not two tokens separated by one space");
            merges.Add((text[..space], text[(space + 1)..]));
        }
        return merges;
    }

    private static INormalizer? ReadNormalizer(JsonElement? json, string source)
    {
        if (json is not { ValueKind: JsonValueKind.Object } n) return null;
        var type = OptString(n, "type");
        return type switch
        {
            "Sequence" => new SequenceNormalizer(Steps(n, "normalizers", source)
                .Select(x => ReadNormalizer(x, source)).OfType<INormalizer>().ToList()),
            "NFC" => new UnicodeNormalizer(NormalizationForm.FormC),
            "NFD" => new UnicodeNormalizer(NormalizationForm.FormD),
            "NFKC" => new UnicodeNormalizer(NormalizationForm.FormKC),
            "NFKD" => new UnicodeNormalizer(NormalizationForm.FormKD),
            "Prepend" => new PrependNormalizer(OptString(n, "prepend") ?? ""),
            "Replace" => ReadReplace(n, source),
            "Strip" => new StripNormalizer(OptBool(n, "strip_left") ?? true, OptBool(n, "strip_right") ?? true),
            "Lowercase" => new LowercaseNormalizer(),
            "StripAccents" => new StripAccentsNormalizer(),
            "Precompiled" when !n.TryGetProperty("precompiled_charsmap", out var map) || map.ValueKind == JsonValueKind.Null
                               || (map.ValueKind == JsonValueKind.String && map.GetString() == "") => null,
            _ => throw new InvalidTokenizerException($"{source}: normalizer '{type}' is not supported"),
        };
    }

    private static ReplaceNormalizer ReadReplace(JsonElement json, string source)
    {
        var pattern = Required(json, "pattern", source);
        var content = OptString(json, "content") ?? "";
        if (pattern.TryGetProperty("String", out var literal)) return new ReplaceNormalizer(literal.GetString()!, content, false);
        if (pattern.TryGetProperty("Regex", out var regex)) return new ReplaceNormalizer(regex.GetString()!, content, true);
        throw new InvalidTokenizerException($"{source}: Replace pattern is neither String nor Regex");
    }

    private static IPreTokenizer? ReadPreTokenizer(JsonElement? json, string source)
    {
        if (json is not { ValueKind: JsonValueKind.Object } p) return null;
        var type = OptString(p, "type");
        switch (type)
        {
            case "Sequence":
                return new SequencePreTokenizer(Steps(p, "pretokenizers", source)
                    .Select(x => ReadPreTokenizer(x, source)).OfType<IPreTokenizer>().ToList());
            case "ByteLevel":
                return new ByteLevelPreTokenizer(OptBool(p, "add_prefix_space") ?? true, OptBool(p, "use_regex") ?? true);
            case "Split":
            {
                var pattern = Required(p, "pattern", source);
                var isRegex = pattern.TryGetProperty("Regex", out var regex);
                var text = isRegex ? regex.GetString()! : Required(pattern, "String", source).GetString()!;
                return new SplitPreTokenizer(text, isRegex, ReadBehavior(p, source), OptBool(p, "invert") ?? false);
            }
            case "Metaspace":
                return new MetaspacePreTokenizer(OptString(p, "replacement") ?? "▁", ReadPrependScheme(p), OptBool(p, "split") ?? true);
            case "Digits":
                return new DigitsPreTokenizer(OptBool(p, "individual_digits") ?? false);
            case "Whitespace":
                return new WhitespacePreTokenizer();
            case "WhitespaceSplit":
                return new WhitespaceSplitPreTokenizer();
            case "Punctuation":
                return new PunctuationPreTokenizer(ReadBehavior(p, source, SplitBehavior.Isolated));
            case "BertPreTokenizer":
                return new SequencePreTokenizer([new WhitespaceSplitPreTokenizer(), new PunctuationPreTokenizer(SplitBehavior.Isolated)]);
            default:
                throw new InvalidTokenizerException($"{source}: pre-tokenizer '{type}' is not supported");
        }
    }

    private static SplitBehavior ReadBehavior(JsonElement json, string source, SplitBehavior fallback = SplitBehavior.Isolated)
    {
        var name = OptString(json, "behavior");
        if (name is null) return fallback;
        return Enum.TryParse<SplitBehavior>(name, ignoreCase: true, out var behavior)
            ? behavior
            : throw new InvalidTokenizerException($"{source}: unknown split behavior '{name}'");
    }

    private static PrependScheme ReadPrependScheme(JsonElement json)
    {
        var scheme = OptString(json, "prepend_scheme");
        if (scheme is not null)
            return scheme switch { "first" => PrependScheme.First, "never" => PrependScheme.Never, _ => PrependScheme.Always };
        return OptBool(json, "add_prefix_space") is false ? PrependScheme.Never : PrependScheme.Always;
    }

    private static IDecoder? ReadDecoder(JsonElement? json, string source)
    {
        if (json is not { ValueKind: JsonValueKind.Object } d) return null;
        var type = OptString(d, "type");
        return type switch
        {
            "Sequence" => new SequenceDecoder(Steps(d, "decoders", source)
                .Select(x => ReadDecoder(x, source)).OfType<IDecoder>().ToList()),
            "ByteLevel" => new ByteLevelDecoder(),
            "Replace" => new ReplaceDecoder(ReadReplace(d, source)),
            "ByteFallback" => new ByteFallbackDecoder(),
            "Fuse" => new FuseDecoder(),
            "Strip" => new StripDecoder((OptString(d, "content") ?? " ")[0], OptInt(d, "start") ?? 0, OptInt(d, "stop") ?? 0),
            "Metaspace" => new MetaspaceDecoder((OptString(d, "replacement") ?? "▁")[0], ReadPrependScheme(d)),
            "WordPiece" => new WordPieceDecoder(OptString(d, "prefix") ?? "##"),
            "BPEDecoder" => new SuffixBpeDecoder(OptString(d, "suffix") ?? "</w>"),
            _ => throw new InvalidTokenizerException($"{source}: decoder '{type}' is not supported"),
        };
    }

    /// <summary>Special ids before and after a single sequence, from TemplateProcessing / Roberta / Bert post-processors.</summary>
    private static (List<int>? Prefix, List<int>? Suffix) ReadTemplate(JsonElement? json, Func<string?, int?> idOf, string source)
    {
        if (json is not { ValueKind: JsonValueKind.Object } p) return (null, null);
        switch (OptString(p, "type"))
        {
            case "Sequence":
                foreach (var step in Required(p, "processors", source).EnumerateArray())
                {
                    var found = ReadTemplate(step, idOf, source);
                    if (found.Prefix is not null) return found;
                }
                return (null, null);
            case "TemplateProcessing":
            {
                var specials = Opt(p, "special_tokens");
                List<int> prefix = [], suffix = [];
                var seenSequence = false;
                foreach (var piece in Required(p, "single", source).EnumerateArray())
                {
                    if (piece.TryGetProperty("Sequence", out _)) { seenSequence = true; continue; }
                    if (!piece.TryGetProperty("SpecialToken", out var special)) continue;
                    var name = special.GetProperty("id").GetString()!;
                    IEnumerable<int> ids = specials is { ValueKind: JsonValueKind.Object } s && s.TryGetProperty(name, out var entry)
                        ? entry.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToList()
                        : idOf(name) is { } id ? [id] : throw new InvalidTokenizerException($"{source}: template token '{name}' is unknown");
                    (seenSequence ? suffix : prefix).AddRange(ids);
                }
                return (prefix, suffix);
            }
            case "RobertaProcessing" or "BertProcessing":
                return ([Required(p, "cls", source)[1].GetInt32()], [Required(p, "sep", source)[1].GetInt32()]);
            default:
                return (null, null);
        }
    }

    private static JsonElement? Opt(JsonElement json, string name) =>
        json.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    /// <summary>Most steps a Sequence may hold. Real tokenizers use a handful; each step copies the text, so tens of
    /// thousands (a fuzzed file had 34,628 Prepend steps) would cost quadratic time and memory per encode.</summary>
    internal const int MaxSequenceSteps = 256;

    /// <summary>The elements of a Sequence's step array, refused beyond <see cref="MaxSequenceSteps"/>.</summary>
    private static JsonElement.ArrayEnumerator Steps(JsonElement json, string name, string source)
    {
        var array = Required(json, name, source);
        if (array.ValueKind != JsonValueKind.Array)
            throw new InvalidTokenizerException($"{source}: \"{name}\" is not an array");
        if (array.GetArrayLength() > MaxSequenceSteps)
            throw new InvalidTokenizerException($"{source}: \"{name}\" has {array.GetArrayLength()} steps; at most {MaxSequenceSteps} are supported");
        return array.EnumerateArray();
    }

    private static JsonElement Required(JsonElement json, string name, string source) =>
        Opt(json, name) ?? throw new InvalidTokenizerException($"{source}: missing \"{name}\"");

    private static string? OptString(JsonElement json, string name) =>
        Opt(json, name) is { ValueKind: JsonValueKind.String } v ? v.GetString() : null;

    private static bool? OptBool(JsonElement json, string name) =>
        Opt(json, name) is { ValueKind: JsonValueKind.True or JsonValueKind.False } v ? v.GetBoolean() : null;

    private static int? OptInt(JsonElement json, string name) =>
        Opt(json, name) is { ValueKind: JsonValueKind.Number } v ? v.GetInt32() : null;
}
