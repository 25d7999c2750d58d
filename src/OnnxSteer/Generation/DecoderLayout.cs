using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxSteer.ModelFiles;
using OnnxSteer.Runtime;

namespace OnnxSteer.Generation;

/// <summary>
/// The input/output names and KV-cache shape of a decoder export, in the onnxruntime-genai layout (input_ids,
/// attention_mask, position_ids, past_key_values.N.key/value → logits, present.N.key/value) or the Hugging Face Optimum
/// layout (same names; position_ids optional; merged decoders add use_cache_branch). Names come from genai_config.json
/// when present and are checked against the session; everything else is read from the session's signature.
/// </summary>
internal sealed record DecoderLayout
{
    public required string InputIds { get; init; }
    public string? AttentionMask { get; init; }
    public string? PositionIds { get; init; }
    /// <summary>Optimum merged decoders: a bool input choosing the with-past branch.</summary>
    public string? UseCacheBranch { get; init; }
    public required string Logits { get; init; }
    public required IReadOnlyList<string> PastKeys { get; init; }
    public required IReadOnlyList<string> PastValues { get; init; }
    public required IReadOnlyList<string> PresentKeys { get; init; }
    public required IReadOnlyList<string> PresentValues { get; init; }
    /// <summary>Element type of input_ids (and of attention_mask / position_ids, each checked separately).</summary>
    public TensorElementType InputIdsType { get; init; } = TensorElementType.Int64;
    public TensorElementType AttentionMaskType { get; init; } = TensorElementType.Int64;
    public TensorElementType PositionIdsType { get; init; } = TensorElementType.Int64;
    /// <summary>Element type of the KV cache (float16 for fp16 exports).</summary>
    public TensorElementType KvType { get; init; } = TensorElementType.Float;
    public int KvHeads { get; init; }
    public int HeadSize { get; init; }
    /// <summary>Maximum total sequence length, when the config says.</summary>
    public int? ContextLength { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    public int? BosTokenId { get; init; }

    /// <summary>Number of layers with a KV cache (0 = a model without cache inputs: generation recomputes each step).</summary>
    public int Layers => PastKeys.Count;

    /// <summary>Whether the model takes a KV cache.</summary>
    public bool HasKvCache => Layers > 0;

    /// <summary>The inputs <see cref="DecoderModel"/> feeds itself (ids, mask, positions, cache branch, past key/values).</summary>
    public IReadOnlySet<string> ManagedInputs =>
        new[] { InputIds, AttentionMask, PositionIds, UseCacheBranch }.OfType<string>().Concat(PastKeys).Concat(PastValues)
            .ToHashSet(StringComparer.Ordinal);

    /// <summary>Reads the layout from a session (and its genai_config.json, if any); <paramref name="source"/> names the model in errors.</summary>
    public static DecoderLayout Detect(InferenceSession session, GenaiConfigFile? config, string source)
    {
        var inputs = session.InputMetadata;
        var outputs = session.OutputMetadata;
        string Require(string? configured, string fallback, bool isInput)
        {
            var name = configured ?? fallback;
            if (!(isInput ? inputs : outputs).ContainsKey(name))
                throw new InvalidModelException($"{source}: the model has no {(isInput ? "input" : "output")} named {name}"
                    + (config?.Path is { } p ? $" (names from {p})" : "") + $"; it has {string.Join(", ", isInput ? session.InputNames : session.OutputNames)}");
            return name;
        }
        string? Optional(string? configured, string fallback) =>
            inputs.ContainsKey(configured ?? fallback) ? configured ?? fallback : null;

        var inputIds = Require(config?.InputIdsName, "input_ids", true);
        var logits = Require(config?.LogitsName, "logits", false);
        var attention = Optional(config?.AttentionMaskName, "attention_mask");
        var position = Optional(config?.PositionIdsName, "position_ids");
        var useCache = inputs.ContainsKey("use_cache_branch") ? "use_cache_branch" : null;

        // Layers: as many past_key N as the session has (checked against the config when it says).
        var keyFormat = config?.PastKeyFormat ?? "past_key_values.%d.key";
        var valueFormat = config?.PastValueFormat ?? "past_key_values.%d.value";
        var presentKeyFormat = config?.PresentKeyFormat ?? "present.%d.key";
        var presentValueFormat = config?.PresentValueFormat ?? "present.%d.value";
        var layers = 0;
        while (inputs.ContainsKey(GenaiConfigFile.LayerName(keyFormat, layers))) layers++;
        if (config?.NumHiddenLayers is { } n && layers > 0 && n != layers)
            throw new InvalidModelException($"{source}: {config.Path} says {n} layers but the model has KV inputs for {layers}");

        var pastKeys = new string[layers];
        var pastValues = new string[layers];
        var presentKeys = new string[layers];
        var presentValues = new string[layers];
        for (var l = 0; l < layers; l++)
        {
            pastKeys[l] = Require(null, GenaiConfigFile.LayerName(keyFormat, l), true);
            pastValues[l] = Require(null, GenaiConfigFile.LayerName(valueFormat, l), true);
            presentKeys[l] = Require(null, GenaiConfigFile.LayerName(presentKeyFormat, l), false);
            presentValues[l] = Require(null, GenaiConfigFile.LayerName(presentValueFormat, l), false);
        }

        var kvType = TensorElementType.Float;
        int kvHeads = 0, headSize = 0;
        if (layers > 0)
        {
            var meta = inputs[pastKeys[0]];
            if (meta.Dimensions.Length != 4)
                throw new InvalidModelException($"{source}: {pastKeys[0]} has shape {meta.ShapeText()}; expected [batch, kv_heads, past_length, head_size]");
            kvType = meta.ElementDataType;
            kvHeads = meta.Dimensions[1] > 0 ? (int)meta.Dimensions[1] : config?.NumKeyValueHeads ?? 0;
            headSize = meta.Dimensions[3] > 0 ? (int)meta.Dimensions[3] : config?.HeadSize ?? 0;
            if (kvHeads <= 0 || headSize <= 0)
                throw new InvalidModelException($"{source}: {pastKeys[0]} has shape {meta.ShapeText()} and no genai_config.json gives num_key_value_heads/head_size");
        }

        return new DecoderLayout
        {
            InputIds = inputIds,
            AttentionMask = attention,
            PositionIds = position,
            UseCacheBranch = useCache,
            Logits = logits,
            PastKeys = pastKeys,
            PastValues = pastValues,
            PresentKeys = presentKeys,
            PresentValues = presentValues,
            InputIdsType = IdType(inputs[inputIds], inputIds, source),
            AttentionMaskType = attention is null ? TensorElementType.Int64 : IdType(inputs[attention], attention, source),
            PositionIdsType = position is null ? TensorElementType.Int64 : IdType(inputs[position], position, source),
            KvType = kvType,
            KvHeads = kvHeads,
            HeadSize = headSize,
            ContextLength = config?.ContextLength,
            EosTokenIds = config?.EosTokenIds ?? [],
            BosTokenId = config?.BosTokenId,
        };
    }

    private static TensorElementType IdType(NodeMetadata meta, string name, string source) =>
        meta.ElementDataType is TensorElementType.Int64 or TensorElementType.Int32
            ? meta.ElementDataType
            : throw new InvalidModelException($"{source}: input {name} is {meta.ElementDataType}; expected int64 or int32");
}
