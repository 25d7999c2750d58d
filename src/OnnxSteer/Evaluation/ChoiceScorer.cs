using OnnxSteer.Generation;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Evaluation;

/// <summary>A continuation's summed log-probability after a prompt.</summary>
/// <param name="LogLikelihood">Sum of log p(token | everything before it) over the continuation's tokens.</param>
/// <param name="Tokens">How many tokens the continuation has.</param>
/// <param name="Truncated">The prompt lost tokens from the left to fit the model's context.</param>
internal readonly record struct ChoiceScore(double LogLikelihood, int Tokens, bool Truncated);

/// <summary>
/// Scores an answer appended to a prompt the way lm-evaluation-harness does: encode prompt + answer and the prompt alone
/// (BOS added by the tokenizer), take the tokens after the prompt's length as the continuation, run one full-sequence
/// forward pass and sum the log-softmax of each continuation token at the position before it. A sequence longer than
/// the context loses tokens from the left, the continuation kept.
/// </summary>
internal static class ChoiceScorer
{
    /// <summary>Scores <paramref name="continuation"/> after <paramref name="prompt"/>.</summary>
    public static ChoiceScore Score(DecoderModel model, ITokenizer tokenizer, string prompt, string continuation)
    {
        var context = tokenizer.EncodeToIds(prompt);
        var whole = tokenizer.EncodeToIds(prompt + continuation);
        var count = whole.Count - context.Count;
        if (count <= 0)
            throw new InvalidInputException($"the answer '{continuation}' adds no tokens to its prompt under this tokenizer");
        IReadOnlyList<int> ids = whole;
        var truncated = false;
        if (model.Layout.ContextLength is { } max && whole.Count > max)
        {
            if (count >= max) throw new InvalidInputException($"the answer '{continuation}' has {count} tokens, more than the context length {max}");
            ids = whole.Skip(whole.Count - max).ToArray();
            truncated = true;
        }
        var logits = model.Forward(ids);
        var first = ids.Count - count;
        double sum = 0;
        for (var position = first; position < ids.Count; position++)
            sum += LogProbability(logits.Row(position - 1), ids[position]);
        return new ChoiceScore(sum, count, truncated);
    }

    /// <summary>log softmax(<paramref name="row"/>)[<paramref name="token"/>], in double.</summary>
    public static double LogProbability(ReadOnlySpan<float> row, int token)
    {
        double max = double.NegativeInfinity;
        foreach (var v in row) if (v > max) max = v;
        double sum = 0;
        foreach (var v in row) sum += Math.Exp(v - max);
        return row[token] - max - Math.Log(sum);
    }

    /// <summary>Index of the largest value; ties go to the first, as numpy's argmax.</summary>
    public static int ArgMax(IReadOnlyList<double> values)
    {
        var best = 0;
        for (var i = 1; i < values.Count; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}
