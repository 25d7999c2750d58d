using System.Text.Json;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Server;

/// <summary>
/// Turns a request into prompt token ids: a completion prompt is encoded after BOS; chat messages go through the
/// model's chat template (tokenizer_config.json's <c>chat_template</c>, rendered by onnxruntime-genai, with the
/// generation prompt added; the template writes BOS itself) or, for a model without one, are joined one per line as a
/// plain prompt.
/// </summary>
internal sealed class PromptBuilder(ITokenizer tokenizer, Func<string, string>? chatTemplate)
{
    /// <summary>The tokenizer that encodes prompts and decodes answers.</summary>
    public ITokenizer Tokenizer { get; } = tokenizer;

    /// <summary>Whether chat messages go through a chat template.</summary>
    public bool HasChatTemplate => chatTemplate is not null;

    /// <summary>The ids of <paramref name="request"/>'s prompt.</summary>
    public IReadOnlyList<int> Build(ApiRequest request)
    {
        if (request.Kind == ApiKind.Completion) return Build(request.Prompts[0]);
        if (chatTemplate is null) return Tokenizer.EncodeToIds(string.Join("\n", request.Messages.Select(m => m.Content)), addBos: true);
        var json = JsonSerializer.Serialize(request.Messages.Select(m => new Dictionary<string, string> { ["role"] = m.Role, ["content"] = m.Content }));
        string text;
        try { text = chatTemplate(json); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // genai's message repeats the whole template for each frame of its error: its first line says what failed.
            throw ApiError.Bad($"the model's chat template refused these messages: {LogText.Escape(FirstLine(e.Message), 300)}", "messages");
        }
        return Tokenizer.EncodeToIds(text, addBos: false);
    }

    private static string FirstLine(string text)
    {
        var end = text.IndexOfAny(['\r', '\n']);
        return end < 0 ? text : text[..end];
    }

    /// <summary>The ids of one completion prompt: text encoded after BOS, ids as given (checked against the vocabulary).</summary>
    public IReadOnlyList<int> Build(PromptInput prompt)
    {
        if (prompt.Ids is null) return Tokenizer.EncodeToIds(prompt.Text!, addBos: true);
        foreach (var id in prompt.Ids)
            if (id >= Tokenizer.VocabSize) throw ApiError.Bad($"token id {id} is outside the vocabulary (0..{Tokenizer.VocabSize - 1})", "prompt");
        return prompt.Ids;
    }

    /// <summary>Whether <paramref name="modelFolder"/>'s tokenizer_config.json has a chat template.</summary>
    public static bool FolderHasChatTemplate(string modelFolder)
    {
        var path = Path.Combine(modelFolder, "tokenizer_config.json");
        if (!File.Exists(path)) return false;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("chat_template", out var t)
                   && t.ValueKind == JsonValueKind.String && t.GetString()!.Length > 0;
        }
        catch (JsonException) { return false; }
    }
}
