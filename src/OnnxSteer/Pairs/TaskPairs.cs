using System.Text.Json;
using System.Xml;
using System.Xml.Linq;

namespace OnnxSteer.Pairs;

/// <summary>
/// Builds contrastive pairs from benchmark data in the method's templates (<see cref="TaskTemplates"/>): the correct
/// answer is positive, the other choice negative. For SVAMP the wrong answer is that of the most similar other
/// problem (<see cref="SvampNeighbours"/>).
/// </summary>
public static class TaskPairs
{
    /// <summary>Reads <paramref name="path"/> as data of <paramref name="task"/> and builds pairs per <paramref name="options"/>.</summary>
    /// <param name="task">The task whose data format and prompt template to use (<see cref="BenchmarkTask.Pairs"/>: a pairs file, as <see cref="PairsJsonl.Read"/>).</param>
    /// <param name="path">The task's data file (JSON Lines or a JSON array; COPA also its XML).</param>
    /// <param name="options">Which records to use; null = all, stopping at the first bad one.</param>
    /// <returns>The pairs, each with its origin (<c>file:line</c> or <c>file[item i]</c>).</returns>
    /// <exception cref="InvalidProfileException">No such file, or a bad record (without <see cref="PairOptions.SkipBad"/>).</exception>
    /// <exception cref="InvalidParameterException"><see cref="PairOptions.Skip"/> or <see cref="PairOptions.Limit"/> is negative.</exception>
    public static PairSet Build(BenchmarkTask task, string path, PairOptions? options = null)
    {
        options ??= new PairOptions();
        if (task == BenchmarkTask.Pairs) return PairsJsonl.Read(path, options);
        if (!File.Exists(path)) throw new InvalidProfileException($"{path}: no such data file");
        var description = $"{task.Name()} {Path.GetFileName(path)}";
        return task switch
        {
            BenchmarkTask.BoolQ => PairCollector.Collect(Json(path, BoolQ), options, description),
            BenchmarkTask.Copa => PairCollector.Collect(
                path.EndsWith(".xml", StringComparison.OrdinalIgnoreCase) ? CopaXml(path) : Json(path, Copa), options, description),
            BenchmarkTask.WinoGrande => PairCollector.Collect(Json(path, WinoGrande), options, description),
            BenchmarkTask.Svamp => PairCollector.Collect(Svamp(path), options, description + " (wrong answer: " + SvampNeighbours.SimilarityName + ")"),
            _ => throw new ArgumentOutOfRangeException(nameof(task)),
        };
    }

    private static IEnumerable<(string, Func<ContrastivePair>)> Json(string path, Func<JsonElement, ContrastivePair> build) =>
        JsonRecords.Read(path).Select(r => (r.Origin, (Func<ContrastivePair>)(() => build(r.Element()))));

    /// <summary>SuperGLUE BoolQ: question, passage ("Title -- text"), label true/false.</summary>
    private static ContrastivePair BoolQ(JsonElement e)
    {
        var prompt = TaskTemplates.BoolQ(JsonRecords.String(e, "passage"), JsonRecords.String(e, "question"));
        return JsonRecords.Bool(e, "label")
            ? new ContrastivePair(prompt, TaskTemplates.Yes, TaskTemplates.No, "")
            : new ContrastivePair(prompt, TaskTemplates.No, TaskTemplates.Yes, "");
    }

    /// <summary>SuperGLUE COPA: premise, choice1, choice2, question cause/effect, label 0 (choice1) or 1.</summary>
    private static ContrastivePair Copa(JsonElement e)
    {
        var asksFor = JsonRecords.String(e, "question");
        if (asksFor is not ("cause" or "effect")) throw new BadRecordException($"field 'question' must be cause or effect, found '{asksFor}'");
        var prompt = TaskTemplates.Copa(JsonRecords.String(e, "premise"), asksFor, JsonRecords.String(e, "choice1"), JsonRecords.String(e, "choice2"));
        return AorB(prompt, JsonRecords.Choice(e, "label", 0, 1) == 0);
    }

    /// <summary>COPA XML (&lt;item asks-for most-plausible-alternative&gt;&lt;p/&gt;&lt;a1/&gt;&lt;a2/&gt;).</summary>
    private static IEnumerable<(string, Func<ContrastivePair>)> CopaXml(string path)
    {
        XDocument doc;
        try
        {
            using var reader = XmlReader.Create(path, new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
            doc = XDocument.Load(reader, LoadOptions.SetLineInfo);
        }
        catch (XmlException e) { throw new InvalidProfileException($"{path}:{e.LineNumber}: not valid XML ({e.Message})"); }
        foreach (var item in doc.Descendants("item"))
        {
            var line = ((IXmlLineInfo)item).LineNumber;
            yield return ($"{path}:{line}", () =>
            {
                string Child(string name) => item.Element(name)?.Value.Trim() ?? throw new BadRecordException($"item has no <{name}>");
                var asksFor = (string?)item.Attribute("asks-for");
                if (asksFor is not ("cause" or "effect")) throw new BadRecordException($"attribute asks-for must be cause or effect, found '{asksFor}'");
                var best = (string?)item.Attribute("most-plausible-alternative");
                if (best is not ("1" or "2")) throw new BadRecordException($"attribute most-plausible-alternative must be 1 or 2, found '{best}'");
                return AorB(TaskTemplates.Copa(Child("p"), asksFor, Child("a1"), Child("a2")), best == "1");
            });
        }
    }

    /// <summary>WinoGrande: sentence with "_", option1, option2, correct_option (or answer) "1"/"2".</summary>
    private static ContrastivePair WinoGrande(JsonElement e)
    {
        var prompt = TaskTemplates.WinoGrande(JsonRecords.String(e, "sentence"), JsonRecords.String(e, "option1"), JsonRecords.String(e, "option2"));
        var key = e.ValueKind == JsonValueKind.Object && !e.TryGetProperty("correct_option", out _) && e.TryGetProperty("answer", out _) ? "answer" : "correct_option";
        return AorB(prompt, JsonRecords.Choice(e, key, 1, 2) == 1);
    }

    private static ContrastivePair AorB(string prompt, bool firstIsCorrect) => firstIsCorrect
        ? new ContrastivePair(prompt, TaskTemplates.A, TaskTemplates.B, "")
        : new ContrastivePair(prompt, TaskTemplates.B, TaskTemplates.A, "");

    /// <summary>SVAMP: Body, Question, Answer; the negative is the answer of the most similar problem with another answer.</summary>
    private static IEnumerable<(string, Func<ContrastivePair>)> Svamp(string path)
    {
        var records = JsonRecords.Read(path).ToList();
        // Every problem of the file takes part in the similarity search; unreadable ones are left out of it.
        var problems = records.Select(r =>
        {
            try
            {
                var e = r.Element();
                return new SvampNeighbours.Problem(JsonRecords.String(e, "Body") + " " + JsonRecords.String(e, "Question"), JsonRecords.Number(e, "Answer"));
            }
            catch (BadRecordException) { return null; }
        }).ToList();
        var neighbours = new SvampNeighbours(problems);
        return records.Select((r, i) => (r.Origin, (Func<ContrastivePair>)(() =>
        {
            var e = r.Element();
            var prompt = TaskTemplates.Svamp(JsonRecords.String(e, "Body"), JsonRecords.String(e, "Question"));
            var answer = JsonRecords.Number(e, "Answer");
            var j = neighbours.MostSimilarWithOtherAnswer(i)
                ?? throw new BadRecordException("no other problem has a different answer");
            return new ContrastivePair(prompt, TaskTemplates.SvampAnswer(answer), TaskTemplates.SvampAnswer(problems[j]!.Answer), "");
        })));
    }
}

/// <summary>
/// Finds, for each SVAMP problem, the most similar other problem whose answer differs, by Jaccard similarity of
/// lower-cased word sets (words = maximal runs of letters and digits) of "Body Question". Ties go to the earlier
/// problem in the file.
/// </summary>
internal sealed class SvampNeighbours
{
    /// <summary>The similarity's name, recorded in the profile's source.</summary>
    public const string SimilarityName = "Jaccard similarity of lower-cased word sets";

    /// <summary>A problem's text and answer.</summary>
    public sealed record Problem(string Text, double Answer);

    private readonly IReadOnlyList<Problem?> _problems;
    private readonly HashSet<string>?[] _words;

    public SvampNeighbours(IReadOnlyList<Problem?> problems)
    {
        _problems = problems;
        _words = problems.Select(p => p is null ? null : Words(p.Text)).ToArray();
    }

    /// <summary>The index of the most similar problem with a different answer, or null when there is none.</summary>
    public int? MostSimilarWithOtherAnswer(int i)
    {
        var me = _problems[i] ?? throw new BadRecordException("the problem cannot be read");
        int? best = null;
        var bestScore = -1.0;
        for (var j = 0; j < _problems.Count; j++)
        {
            if (j == i || _problems[j] is not { } other || other.Answer == me.Answer) continue;
            var score = Jaccard(_words[i]!, _words[j]!);
            if (score > bestScore) { bestScore = score; best = j; }
        }
        return best;
    }

    /// <summary>|A ∩ B| / |A ∪ B|; two empty sets are 0.</summary>
    public static double Jaccard(HashSet<string> a, HashSet<string> b)
    {
        if (a.Count == 0 && b.Count == 0) return 0;
        var inter = 0;
        foreach (var w in a)
            if (b.Contains(w)) inter++;
        return (double)inter / (a.Count + b.Count - inter);
    }

    /// <summary>The set of lower-cased words (maximal runs of letters and digits).</summary>
    public static HashSet<string> Words(string text)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        var start = -1;
        for (var k = 0; k <= text.Length; k++)
        {
            var inWord = k < text.Length && char.IsLetterOrDigit(text[k]);
            if (inWord && start < 0) start = k;
            else if (!inWord && start >= 0) { set.Add(text[start..k].ToLowerInvariant()); start = -1; }
        }
        return set;
    }
}
