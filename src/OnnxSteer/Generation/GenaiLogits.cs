using Microsoft.ML.OnnxRuntimeGenAI;
using GenaiGenerator = Microsoft.ML.OnnxRuntimeGenAI.Generator;

namespace OnnxSteer.Generation;

/// <summary>
/// Reading logits out of genai: <c>GetOutput("logits")</c> is the model's raw output of its last run, [batch, tokens,
/// vocab] — every position of the prompt chunk after each <c>AppendTokens</c>, then one row per step. genai runs the
/// model for a step at the start of the next <c>GenerateNextToken</c>, so right after one, the last row is the one its
/// token was chosen from.
/// </summary>
internal static class GenaiLogits
{
    private const string LogitsName = "logits";

    /// <summary>
    /// Hands <paramref name="sink"/> the rows of the prompt chunk just appended (positions <paramref name="start"/> ..
    /// start + count − 1), each scoring the prompt token after it; the prompt's last position scores nothing here.
    /// </summary>
    public static void PromptRows(GenaiGenerator generator, IReadOnlyList<int> promptIds, int start, int count, ILogitsSink sink)
    {
        using var tensor = generator.GetOutput(LogitsName);
        var (_, vocab) = RowShape(tensor, count);
        var data = Floats(tensor);
        for (var row = 0; row < count && start + row + 1 < promptIds.Count; row++)
            sink.Row(data.AsSpan(row * vocab, vocab), promptIds[start + row + 1]);
    }

    /// <summary>Hands <paramref name="sink"/> the row <paramref name="token"/> was just chosen from.</summary>
    public static void StepRow(GenaiGenerator generator, int token, ILogitsSink sink)
    {
        using var tensor = generator.GetOutput(LogitsName);
        var (rows, vocab) = RowShape(tensor, null);
        var data = Floats(tensor);
        sink.Row(data.AsSpan((rows - 1) * vocab, vocab), token);
    }

    private static (int Rows, int Vocab) RowShape(Tensor tensor, int? expectedRows)
    {
        var shape = tensor.Shape();
        if (shape.Length != 3 || shape[0] != 1 || (expectedRows is { } e && shape[1] != e))
            throw new InvalidOperationException($"genai's logits have shape [{string.Join(",", shape)}]; expected [1, {expectedRows?.ToString() ?? "n"}, vocab]");
        return ((int)shape[1], (int)shape[2]);
    }

    private static float[] Floats(Tensor tensor) => tensor.Type() switch
    {
        ElementType.float32 => tensor.GetData<float>().ToArray(),
        ElementType.float16 => [.. tensor.GetData<Half>().ToArray().Select(h => (float)h)],
        var t => throw new InvalidOperationException($"genai's logits are {t}; expected float32 or float16"),
    };
}
