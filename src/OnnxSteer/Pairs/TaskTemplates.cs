using System.Globalization;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Pairs;

/// <summary>The benchmark tasks OnnxSteer builds pairs from and evaluates, in the AUSteer authors' prompt templates.</summary>
public enum BenchmarkTask
{
    /// <summary>BoolQ: a passage and a yes/no question.</summary>
    BoolQ,
    /// <summary>COPA: a premise and the more plausible of two causes or effects.</summary>
    Copa,
    /// <summary>WinoGrande: a sentence with a blank and two options.</summary>
    WinoGrande,
    /// <summary>SVAMP: arithmetic word problems (the wrong answer is that of the most similar other problem).</summary>
    Svamp,
    /// <summary>Contrastive pairs as JSON Lines (<see cref="PairsJsonl"/>): prompt, positive, negative.</summary>
    Pairs,
}

/// <summary>The names of <see cref="BenchmarkTask"/>s as users write them (boolq, copa, winogrande, svamp, pairs).</summary>
public static class BenchmarkTasks
{
    /// <summary>Parses boolq, copa, winogrande, svamp or pairs (any case, surrounding spaces ignored).</summary>
    /// <exception cref="InvalidParameterException">Another name (parameter <c>task</c>).</exception>
    public static BenchmarkTask Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "boolq" => BenchmarkTask.BoolQ,
        "copa" => BenchmarkTask.Copa,
        "winogrande" => BenchmarkTask.WinoGrande,
        "svamp" => BenchmarkTask.Svamp,
        "pairs" => BenchmarkTask.Pairs,
        _ => throw new InvalidParameterException("task", $"{Param("task")}: unknown task '{name}': expected boolq, copa, winogrande, svamp or pairs"),
    };

    /// <summary>The lower-case name of <paramref name="task"/>, as <see cref="Parse"/> reads it.</summary>
    public static string Name(this BenchmarkTask task) => task.ToString().ToLowerInvariant();
}

/// <summary>
/// The prompt templates of the AUSteer authors' released code (docs/method.md, "Evaluation"), shared by pair building
/// and evaluation so that both see exactly the same text. Answers are appended to the prompt as they are.
/// </summary>
internal static class TaskTemplates
{
    /// <summary>BoolQ prompt; <paramref name="passage"/> loses a leading "Title -- ".</summary>
    public static string BoolQ(string passage, string question) =>
        "Is the answer to the question encapsulated in the passage? Please confirm with 'yes' or 'no'.\n\n" +
        $"Passage: {StripTitle(passage)}\n\nQuestion: {question}\n\nAnswer:";

    /// <summary>BoolQ answers.</summary>
    public const string Yes = " yes", No = " no";

    /// <summary>COPA prompt; <paramref name="asksFor"/> is "cause" or "effect".</summary>
    public static string Copa(string premise, string asksFor, string choice1, string choice2) =>
        $"Question:\n{premise} Based on the previous passage, choose the most reasonable {asksFor}.\nA:{choice1}\nB:{choice2}\n\nAnswer:\n";

    /// <summary>WinoGrande prompt.</summary>
    public static string WinoGrande(string sentence, string option1, string option2) =>
        $"Please fill in the blanks. Write A or B as the answer.\n\nSentence: {sentence}\nA. {option1}\nB. {option2}\nAnswer:";

    /// <summary>COPA and WinoGrande answers.</summary>
    public const string A = "A", B = "B";

    /// <summary>SVAMP prompt.</summary>
    public static string Svamp(string body, string question) =>
        "Answer the following grade-school math word problem. Reply with only the final answer as a number.\n" +
        $"Question: {body} {question}\nAnswer:";

    /// <summary>A SVAMP answer as appended to the prompt: a space, then the number (no ".0" for whole numbers).</summary>
    public static string SvampAnswer(double value) => " " + FormatNumber(value);

    /// <summary>Whole numbers without decimals, others in shortest round-trip form, invariant culture.</summary>
    public static string FormatNumber(double value) =>
        value == Math.Floor(value) && Math.Abs(value) < 1e15
            ? ((long)value).ToString(CultureInfo.InvariantCulture)
            : value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>"Title -- text" → "text"; passages without the separator are unchanged.</summary>
    public static string StripTitle(string passage)
    {
        var cut = passage.IndexOf(" -- ", StringComparison.Ordinal);
        return cut >= 0 ? passage[(cut + 4)..] : passage;
    }
}
