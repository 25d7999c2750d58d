using System.Text.Json;
using System.Text.Json.Nodes;

namespace OnnxSteer.Import;

/// <summary>Special token ids written into genai_config.json.</summary>
internal sealed record GenaiConfigTokens(int BosTokenId, int EosTokenId, int PadTokenId);

/// <summary>Writes genai_config.json in the format onnxruntime-genai's model builder emits.</summary>
internal static class GenaiConfig
{
    /// <summary>The file name.</summary>
    public const string FileName = "genai_config.json";

    /// <summary>The JSON text for a model of this shape (as its graph's KV cache has it) and inputs.</summary>
    public static string Build(LlamaConfig c, bool hasPositionIds, GenaiConfigTokens tokens)
    {
        var inputs = new JsonObject { ["input_ids"] = "input_ids", ["attention_mask"] = "attention_mask" };
        if (hasPositionIds) inputs["position_ids"] = "position_ids";
        inputs["past_key_names"] = "past_key_values.%d.key";
        inputs["past_value_names"] = "past_key_values.%d.value";
        var root = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["bos_token_id"] = tokens.BosTokenId,
                ["context_length"] = c.MaxSequenceLength,
                ["decoder"] = new JsonObject
                {
                    ["session_options"] = new JsonObject { ["log_id"] = "onnxruntime-genai", ["provider_options"] = new JsonArray() },
                    ["filename"] = LlamaOnnxExporter.ModelFileName,
                    ["head_size"] = c.HeadSize,
                    ["hidden_size"] = c.Dim,
                    ["inputs"] = inputs,
                    ["outputs"] = new JsonObject
                    {
                        ["logits"] = "logits",
                        ["present_key_names"] = "present.%d.key",
                        ["present_value_names"] = "present.%d.value",
                    },
                    ["num_attention_heads"] = c.Heads,
                    ["num_hidden_layers"] = c.Layers,
                    ["num_key_value_heads"] = c.KvHeads,
                },
                ["eos_token_id"] = tokens.EosTokenId,
                ["pad_token_id"] = tokens.PadTokenId,
                ["type"] = "llama",
                ["vocab_size"] = c.VocabSize,
            },
            ["search"] = new JsonObject
            {
                ["diversity_penalty"] = 0.0,
                ["do_sample"] = false,
                ["early_stopping"] = true,
                ["length_penalty"] = 1.0,
                ["max_length"] = c.MaxSequenceLength,
                ["min_length"] = 0,
                ["no_repeat_ngram_size"] = 0,
                ["num_beams"] = 1,
                ["num_return_sequences"] = 1,
                ["past_present_share_buffer"] = false,
                ["repetition_penalty"] = 1.0,
                ["temperature"] = 1.0,
                ["top_k"] = 1,
                ["top_p"] = 1.0,
            },
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }
}
