using OnnxSteer.Numerics;
using System.Globalization;
using OnnxSteer.Generation;
using OnnxSteer.Pairs;
using OnnxSteer.Tokenizers;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Evaluation;

/// <summary>How items are answered.</summary>
public enum EvalMode
{
    /// <summary>Greedy generation judged by exact match (svamp: by number), as the AUSteer authors' code.</summary>
    Generate,

    /// <summary>Each choice scored by its summed log-probability, as lm-evaluation-harness.</summary>
    Loglik,
}

/// <summary>Reads an evaluation mode by name ("generate", "loglik"), with each task's default.</summary>
public static class EvalModes
{
    /// <summary>
    /// "generate" or "loglik"; when not given, generate (as the AUSteer authors) except for <see cref="BenchmarkTask.Pairs"/>,
    /// which is scored by log-likelihood only.
    /// </summary>
    /// <exception cref="InvalidParameterException">An unknown name (parameter <c>mode</c>).</exception>
    public static EvalMode Resolve(string? name, BenchmarkTask task) => name switch
    {
        null => task == BenchmarkTask.Pairs ? EvalMode.Loglik : EvalMode.Generate,
        "generate" => EvalMode.Generate,
        "loglik" => EvalMode.Loglik,
        _ => throw new InvalidParameterException("mode", $"{Param("mode")}: unknown mode '{name}': expected generate or loglik"),
    };
}

/// <summary>One item's outcome.</summary>
/// <param name="Id">The item's origin.</param>
/// <param name="Prediction">Generated text (generate) or the chosen answer (loglik).</param>
/// <param name="Gold">The right answer.</param>
/// <param name="Correct">Judged right.</param>
/// <param name="CorrectNorm">Loglik only: right when choices are ranked by log-likelihood per character.</param>
/// <param name="LogLikelihoods">Loglik only: each choice's summed log-probability.</param>
/// <param name="Truncated">The prompt lost tokens from the left to fit the context.</param>
public sealed record ItemResult(string Id, string Prediction, string Gold, bool Correct, bool? CorrectNorm = null,
    IReadOnlyList<double>? LogLikelihoods = null, bool Truncated = false);

/// <summary>The outcome of evaluating one model on a list of items.</summary>
/// <param name="Task">The task.</param>
/// <param name="Mode">How items were answered.</param>
/// <param name="Items">Per-item outcomes, in item order (fewer than asked for when interrupted).</param>
/// <param name="Interrupted">Stopped early by cancellation.</param>
public sealed record EvalResult(BenchmarkTask Task, EvalMode Mode, IReadOnlyList<ItemResult> Items, bool Interrupted)
{
    /// <summary>Items judged right.</summary>
    public int Correct => Items.Count(i => i.Correct);

    /// <summary>Correct / items (0 with no items).</summary>
    public double Accuracy => Items.Count == 0 ? 0 : (double)Correct / Items.Count;

    /// <summary>95% Wilson interval of <see cref="Accuracy"/>.</summary>
    public Interval Interval => Statistics.Wilson(Correct, Items.Count);

    /// <summary>Loglik: items right under length-normalised scoring; null for generate.</summary>
    public int? CorrectNorm => Mode == EvalMode.Loglik ? Items.Count(i => i.CorrectNorm == true) : null;

    /// <summary>Loglik: length-normalised accuracy; null for generate.</summary>
    public double? AccuracyNorm => CorrectNorm is { } c ? (Items.Count == 0 ? 0 : (double)c / Items.Count) : null;

    /// <summary>Items whose prompt was cut to fit the context.</summary>
    public int Truncated => Items.Count(i => i.Truncated);
}

/// <summary>Evaluates a model on benchmark items, one item at a time (batch size 1).</summary>
/// <param name="model">The model, opened by the caller (who disposes it).</param>
/// <param name="tokenizer">The tokenizer the model was trained with.</param>
public sealed class Evaluator(DecoderModel model, ITokenizer tokenizer)
{
    /// <summary>Most new tokens for SVAMP answers.</summary>
    public const int SvampMaxNewTokens = 50;

    /// <summary>
    /// Evaluates <paramref name="items"/>; <paramref name="onItem"/> sees each outcome as it is made (for progress and
    /// streaming output). Cancellation stops between items and returns those finished, marked interrupted.
    /// </summary>
    /// <exception cref="InvalidParameterException"><see cref="BenchmarkTask.Pairs"/> asked in <see cref="EvalMode.Generate"/> (parameter <c>task</c>).</exception>
    public EvalResult Run(BenchmarkTask task, EvalMode mode, IReadOnlyList<EvalItem> items, Action<ItemResult>? onItem = null, CancellationToken cancel = default)
    {
        if (task == BenchmarkTask.Pairs && mode == EvalMode.Generate)
            throw new InvalidParameterException("task", $"{Param("task")} pairs is scored by log-likelihood only: use {Param("mode")} loglik");
        var results = new List<ItemResult>(items.Count);
        foreach (var item in items)
        {
            if (cancel.IsCancellationRequested) return new EvalResult(task, mode, results, Interrupted: true);
            ItemResult result;
            try
            {
                result = mode == EvalMode.Loglik ? Loglik(item) : Generate(task, item, cancel);
            }
            catch (OperationCanceledException) { return new EvalResult(task, mode, results, Interrupted: true); }
            results.Add(result);
            onItem?.Invoke(result);
        }
        return new EvalResult(task, mode, results, Interrupted: false);
    }

    /// <summary>Scores every choice; acc takes the highest sum, acc_norm the highest sum per character of the choice.</summary>
    internal ItemResult Loglik(EvalItem item)
    {
        var scores = item.Choices.Select(c => ChoiceScorer.Score(model, tokenizer, item.Prompt, c)).ToArray();
        var sums = scores.Select(s => s.LogLikelihood).ToArray();
        var chosen = ChoiceScorer.ArgMax(sums);
        var perChar = item.Choices.Select((c, i) => sums[i] / c.Length).ToArray();
        var chosenNorm = ChoiceScorer.ArgMax(perChar);
        return new ItemResult(item.Id, item.Choices[chosen], item.GoldText, chosen == item.Gold, chosenNorm == item.Gold,
            sums, scores.Any(s => s.Truncated));
    }

    /// <summary>Greedy generation: one new token for the choice tasks, up to 50 for svamp.</summary>
    internal ItemResult Generate(BenchmarkTask task, EvalItem item, CancellationToken cancel = default)
    {
        var maxNew = task == BenchmarkTask.Svamp ? SvampMaxNewTokens : 1;
        IReadOnlyList<int> prompt = tokenizer.EncodeToIds(item.Prompt);
        var truncated = false;
        if (model.Layout.ContextLength is { } max && prompt.Count + maxNew > max)
        {
            prompt = prompt.Skip(prompt.Count - Math.Max(1, max - maxNew)).ToArray();
            truncated = true;
        }
        var generated = new Generator(model).Generate(prompt, new SamplingSettings { MaxTokens = maxNew }, cancellationToken: cancel);
        cancel.ThrowIfCancellationRequested();
        var text = tokenizer.Decode(generated.GeneratedIds);
        var correct = task == BenchmarkTask.Svamp
            ? AnswerMatching.NumberMatch(text, double.Parse(item.GoldText, NumberStyles.Float, CultureInfo.InvariantCulture))
            : AnswerMatching.ExactMatch(text, item.GoldText);
        return new ItemResult(item.Id, text, item.GoldText, correct, Truncated: truncated);
    }
}
