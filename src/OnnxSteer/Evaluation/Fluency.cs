using OnnxSteer.Generation;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Evaluation;

/// <summary>How well a model predicts a set of neutral texts: the fluency guard reported beside accuracy.</summary>
/// <param name="MeanLogLikelihood">Σ log p(token | tokens before it) / <see cref="Tokens"/>, natural log (nats per token; closer to 0 is better).</param>
/// <param name="Tokens">Tokens scored over all texts (every token after the first of each text, i.e. after BOS).</param>
/// <param name="Texts">Texts scored.</param>
/// <param name="Truncated">Texts longer than the model's context, scored on their first context-length tokens.</param>
public sealed record FluencyResult(double MeanLogLikelihood, int Tokens, int Texts, int Truncated)
{
    /// <summary>exp(−mean log-likelihood): the perplexity over the same tokens.</summary>
    public double Perplexity => Math.Exp(-MeanLogLikelihood);
}

/// <summary>
/// The fluency guard: the token-weighted mean log-likelihood of neutral texts. Each text is encoded with BOS (when the
/// tokenizer has one) and run through one full-sequence forward pass; every token after the first is scored by the
/// log-softmax of the row before it. A steering setting that breaks the model shows up here as a drop against the
/// vanilla model's value, even when task accuracy happens to rise.
/// </summary>
public static class Fluency
{
    /// <summary>Scores <paramref name="texts"/>; <paramref name="onText"/> is called after each (for progress).</summary>
    /// <param name="model">The model, opened by the caller (who disposes it).</param>
    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="texts">Neutral texts (<see cref="NeutralTexts"/>).</param>
    /// <param name="onText">Called after each text is scored; null: nothing.</param>
    /// <param name="cancel">Checked between texts.</param>
    /// <exception cref="InvalidInputException">No texts, or none with a token after the first to score.</exception>
    /// <exception cref="OperationCanceledException">Cancelled between texts.</exception>
    public static FluencyResult Measure(DecoderModel model, ITokenizer tokenizer, IReadOnlyList<string> texts,
        Action? onText = null, CancellationToken cancel = default)
    {
        if (texts.Count == 0) throw new InvalidInputException("the fluency text set is empty");
        double sum = 0;
        int tokens = 0, truncated = 0;
        foreach (var text in texts)
        {
            cancel.ThrowIfCancellationRequested();
            IReadOnlyList<int> ids = tokenizer.EncodeToIds(text);
            if (model.Layout.ContextLength is { } max && ids.Count > max)
            {
                // Keep the beginning (and its BOS): a text is scored as a model would read it from the start.
                ids = ids.Take(max).ToArray();
                truncated++;
            }
            if (ids.Count < 2) continue;
            var logits = model.Forward(ids);
            for (var position = 1; position < ids.Count; position++)
                sum += ChoiceScorer.LogProbability(logits.Row(position - 1), ids[position]);
            tokens += ids.Count - 1;
            onText?.Invoke();
        }
        if (tokens == 0) throw new InvalidInputException("the fluency texts have no token after the first to score");
        return new FluencyResult(sum / tokens, tokens, texts.Count, truncated);
    }
}

/// <summary>The neutral texts the fluency guard scores: a built-in set, or one text per line of a file.</summary>
public static class NeutralTexts
{
    /// <summary>What <see cref="Default"/> is, for reports.</summary>
    public const string DefaultName = "built-in: 20 short neutral stories";

    /// <summary>
    /// 20 short neutral stories in simple English, written for OnnxSteer in the style of TinyStories (so the story
    /// models used in tests see in-domain text) and free of anything a task or a steering direction is about.
    /// </summary>
    public static IReadOnlyList<string> Default { get; } =
    [
        "Once upon a time, there was a little girl named Lily. She liked to play in the park with her friends.",
        "Tom had a red ball. He threw it to his dog, and the dog ran fast to catch it.",
        "The sun was warm and the sky was blue. A small bird sang in the tall tree.",
        "Mom made soup for dinner. Ben helped her cut the carrots and put them in the pot.",
        "One day, a boy found a box under his bed. Inside the box there was an old toy car.",
        "The cat sat by the window and watched the rain. It was a quiet and sleepy day.",
        "Sara went to the store with her dad. They bought bread, milk and some apples.",
        "In the garden there were many flowers. The bees flew from one flower to the next.",
        "Max wanted to build a big tower with his blocks. He worked hard, and soon the tower was very tall.",
        "The little fish swam in the pond. It saw a frog sitting on a green leaf.",
        "Anna and her brother went to the beach. They made a sand castle and looked for shells.",
        "It was time for bed. Dad read a story, and the children fell asleep.",
        "A kind old man lived in a small house near the woods. Every morning he fed the birds.",
        "The train went over the bridge and into the hills. The children waved from the window.",
        "Lucy lost her hat in the wind. Her friend Sam ran after it and gave it back to her.",
        "The farmer had a cow, two pigs and a horse. He took care of them every day.",
        "When the snow fell, the town looked white and soft. The kids put on their coats and went out to play.",
        "Ben was sad because his kite was broken. His mom helped him fix it with some tape.",
        "The baker made fresh bread in the morning. The whole street smelled good.",
        "Mia liked to draw pictures of animals. Her favourite picture was of a big brown bear.",
    ];

    /// <summary>One text per non-blank line of <paramref name="path"/> (lines are used as they are, without the line break).</summary>
    /// <exception cref="InvalidInputException">The file is missing or has no non-blank line.</exception>
    public static IReadOnlyList<string> Load(string path)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: no such fluency text file");
        var texts = File.ReadLines(path).Where(l => !string.IsNullOrWhiteSpace(l)).ToList();
        if (texts.Count == 0) throw new InvalidInputException($"{path}: the fluency text file has no non-blank line");
        return texts;
    }

    /// <summary><see cref="Load"/> of <paramref name="path"/>, or <see cref="Default"/> when it is null; with a name for reports.</summary>
    public static (IReadOnlyList<string> Texts, string Name) LoadOrDefault(string? path) =>
        path is null ? (Default, DefaultName) : (Load(path), path);
}
