using System.Globalization;
using System.Text.RegularExpressions;
using OnnxSteer.Pairs;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Evaluation;

/// <summary>
/// One benchmark item to evaluate: the prompt in the method's template, the answer choices in a fixed order, and
/// which one is right.
/// </summary>
/// <param name="Id">Where the item came from, e.g. <c>val.jsonl:12</c>.</param>
/// <param name="Prompt">The prompt; a choice is appended to it as it is.</param>
/// <param name="Choices">The answers in a fixed order (boolq: " yes", " no"; copa, winogrande: "A", "B"; svamp: the
/// right answer and the most similar other problem's answer).</param>
/// <param name="Gold">Index of the right answer in <see cref="Choices"/>.</param>
public sealed record EvalItem(string Id, string Prompt, IReadOnlyList<string> Choices, int Gold)
{
    /// <summary>The right answer's text.</summary>
    public string GoldText => Choices[Gold];
}

/// <summary>Reads evaluation items from task data through the pair builders, so evaluation sees the profiling templates.</summary>
public static class EvalItems
{
    /// <summary>
    /// Items <paramref name="offset"/> .. <paramref name="offset"/> + <paramref name="limit"/> of <paramref name="path"/>
    /// read as <paramref name="task"/> data. A bad record is an error naming it.
    /// </summary>
    /// <exception cref="InvalidParameterException">A negative offset or limit.</exception>
    /// <exception cref="InvalidInputException">The file is missing or a record is bad (the error names it).</exception>
    public static IReadOnlyList<EvalItem> Load(BenchmarkTask task, string path, int offset = 0, int? limit = null)
    {
        if (offset < 0) throw new InvalidParameterException("offset", $"{Param("offset")} {offset}: must be ≥ 0");
        if (limit is < 0) throw new InvalidParameterException("limit", $"{Param("limit")} {limit}: must be ≥ 0");
        var set = TaskPairs.Build(task, path, new PairOptions(offset, limit));
        return set.Pairs.Select(p => FromPair(task, p)).ToList();
    }

    /// <summary>The item of a contrastive pair: its positive answer is the gold one.</summary>
    internal static EvalItem FromPair(BenchmarkTask task, ContrastivePair pair)
    {
        // Fixed choice order: ties in log-likelihood then go the same way whatever the label, as in lm-evaluation-harness.
        string[] choices = task switch
        {
            BenchmarkTask.BoolQ => [TaskTemplates.Yes, TaskTemplates.No],
            BenchmarkTask.Copa or BenchmarkTask.WinoGrande => [TaskTemplates.A, TaskTemplates.B],
            // Negative first: ties go to the first choice, so a pair counts as right only when the positive answer's
            // log-probability strictly exceeds the negative's.
            BenchmarkTask.Pairs => [pair.Negative, pair.Positive],
            _ => [pair.Positive, pair.Negative],
        };
        var gold = Array.IndexOf(choices, pair.Positive);
        if (gold < 0) throw new InvalidProfileException($"{pair.Origin}: answer '{pair.Positive}' is not one of the task's choices");
        return new EvalItem(pair.Origin, pair.Prompt, choices, gold);
    }
}

/// <summary>How generated text is judged, as the AUSteer authors' released code does.</summary>
internal static partial class AnswerMatching
{
    /// <summary>Lower-cased and trimmed, for exact match.</summary>
    public static string Normalize(string text) => text.Trim().ToLowerInvariant();

    /// <summary>Exact match after <see cref="Normalize"/>.</summary>
    public static bool ExactMatch(string generated, string gold) => Normalize(generated) == Normalize(gold);

    /// <summary>The number after "####" if there is one, else the last number in <paramref name="text"/>; commas in numbers are ignored.</summary>
    public static double? ExtractNumber(string text)
    {
        var marker = text.IndexOf("####", StringComparison.Ordinal);
        var matches = NumberPattern().Matches(marker >= 0 ? text[(marker + 4)..] : text);
        if (matches.Count == 0) return null;
        var m = marker >= 0 ? matches[0] : matches[^1];
        return double.TryParse(m.Value.Replace(",", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;
    }

    /// <summary>SVAMP: the extracted number equals the gold one as a float (within 1e-6, relative for large values).</summary>
    public static bool NumberMatch(string generated, double gold) =>
        ExtractNumber(generated) is { } v && Math.Abs(v - gold) <= 1e-6 * Math.Max(1, Math.Abs(gold));

    [GeneratedRegex(@"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")]
    private static partial Regex NumberPattern();
}
