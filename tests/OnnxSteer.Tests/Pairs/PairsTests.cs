using OnnxSteer.Pairs;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Pairs;

public class PairsJsonlTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("onnxsteer-pairs-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(params string[] lines)
    {
        var path = Path.Combine(_dir, "pairs.jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Reads_pairs_and_appends_answers_as_they_are()
    {
        var path = Write(
            """{"prompt": "Q: 2+2?\nA:", "positive": " 4", "negative": " 5", "id": 1}""",
            "",
            """{"prompt": "Sky is", "positive": "blue", "negative": "green"}""");
        var set = PairsJsonl.Read(path, new PairOptions());
        Assert.Equal(2, set.Pairs.Count);
        Assert.Equal("Q: 2+2?\nA: 4", set.Pairs[0].PositiveText);
        Assert.Equal("Sky isgreen", set.Pairs[1].NegativeText); // no separator is added
        Assert.Equal($"{path}:3", set.Pairs[1].Origin);
        Assert.Equal("pairs pairs.jsonl skip 0", set.Description);
    }

    [Theory]
    [InlineData("""{"prompt": "p", "positive": "a"}""", "missing field 'negative'")]
    [InlineData("""{"prompt": "p", "positive": "", "negative": "b"}""", "positive answer is empty")]
    [InlineData("""{"prompt": "p", "positive": 3, "negative": "b"}""", "field 'positive' must be a string")]
    [InlineData("""{"prompt": "p", "positive": "a", "negative": "a"}""", "identical")]
    [InlineData("""{"prompt": "p", "positive": "a",""", "not valid JSON")]
    [InlineData("""["p", "a", "b"]""", "expected a JSON object")]
    public void A_bad_line_is_an_error_naming_the_line_or_a_count_with_skip_bad(string bad, string problem)
    {
        var path = Write("""{"prompt": "p", "positive": "a", "negative": "b"}""", bad, """{"prompt": "q", "positive": "c", "negative": "d"}""");
        var e = Assert.Throws<InvalidProfileException>(() => PairsJsonl.Read(path, new PairOptions()));
        Assert.StartsWith($"{path}:2: ", e.Message);
        Assert.Contains(problem, e.Message);
        var set = PairsJsonl.Read(path, new PairOptions(SkipBad: true));
        Assert.Equal(2, set.Pairs.Count);
        Assert.Equal(1, set.SkippedBad);
        Assert.StartsWith($"{path}:2: ", Assert.Single(set.SkipReasons));
    }

    [Fact]
    public void Skip_counts_records_and_limit_counts_pairs()
    {
        var lines = Enumerable.Range(0, 10).Select(i => $$"""{"prompt": "p{{i}}", "positive": "a", "negative": "b"}""").ToArray();
        var set = PairsJsonl.Read(Write(lines), new PairOptions(Skip: 3, Limit: 4));
        Assert.Equal(["p3", "p4", "p5", "p6"], set.Pairs.Select(p => p.Prompt));
        Assert.Equal("pairs pairs.jsonl skip 3 limit 4", set.Description);
    }
}

public class TaskPairsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("onnxsteer-tasks-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [SharedFact]
    public void BoolQ_uses_the_template_without_the_passage_title()
    {
        var set = TaskPairs.Build(BenchmarkTask.BoolQ, SharedData.Path("data", "boolq", "dev.jsonl"), new PairOptions(Limit: 3));
        Assert.Equal(3, set.Pairs.Count);
        var first = File.ReadLines(SharedData.Path("data", "boolq", "dev.jsonl")).First();
        var json = System.Text.Json.JsonDocument.Parse(first).RootElement;
        var passage = json.GetProperty("passage").GetString()!;
        var text = passage[(passage.IndexOf(" -- ", StringComparison.Ordinal) + 4)..];
        Assert.Equal("Is the answer to the question encapsulated in the passage? Please confirm with 'yes' or 'no'.\n\nPassage: "
            + text + "\n\nQuestion: " + json.GetProperty("question").GetString() + "\n\nAnswer:", set.Pairs[0].Prompt);
        var label = json.GetProperty("label").GetString() == "true";
        Assert.Equal(label ? " yes" : " no", set.Pairs[0].Positive);
        Assert.Equal(label ? " no" : " yes", set.Pairs[0].Negative);
    }

    [SharedFact]
    public void Copa_from_xml_and_jsonl()
    {
        var xml = TaskPairs.Build(BenchmarkTask.Copa, SharedData.Path("data", "copa", "balanced-copa-dev-all.xml"), new PairOptions(Limit: 2));
        Assert.Equal("Question:\nMy body cast a shadow over the grass. Based on the previous passage, choose the most reasonable cause.\n" +
                     "A:The sun was rising.\nB:The grass was cut.\n\nAnswer:\n", xml.Pairs[0].Prompt);
        Assert.Equal(("A", "B"), (xml.Pairs[0].Positive, xml.Pairs[0].Negative));
        Assert.EndsWith("balanced-copa-dev-all.xml:5", xml.Pairs[0].Origin);
        var all = TaskPairs.Build(BenchmarkTask.Copa, SharedData.Path("data", "copa", "balanced-copa-dev-all.xml"), new PairOptions());
        Assert.Equal(1000, all.Pairs.Count);
        var jsonl = TaskPairs.Build(BenchmarkTask.Copa, SharedData.Path("data", "copa", "val.jsonl"), new PairOptions(Limit: 1));
        // {"premise": "The man turned on the faucet.", ..., "question": "effect", "label": 1}
        Assert.Equal("Question:\nThe man turned on the faucet. Based on the previous passage, choose the most reasonable effect.\n" +
                     "A:The toilet filled with water.\nB:Water flowed from the spout.\n\nAnswer:\n", jsonl.Pairs[0].Prompt);
        Assert.Equal(("B", "A"), (jsonl.Pairs[0].Positive, jsonl.Pairs[0].Negative));
    }

    [SharedFact]
    public void WinoGrande_uses_the_correct_option()
    {
        var set = TaskPairs.Build(BenchmarkTask.WinoGrande, SharedData.Path("data", "winogrande", "dev.json"), new PairOptions(Limit: 2));
        Assert.Equal("Please fill in the blanks. Write A or B as the answer.\n\nSentence: Sarah was a much better surgeon than Maria so _ always got the easier cases.\n" +
                     "A. Sarah\nB. Maria\nAnswer:", set.Pairs[0].Prompt);
        Assert.Equal(("B", "A"), (set.Pairs[0].Positive, set.Pairs[0].Negative)); // correct_option "2"
        Assert.Equal(("A", "B"), (set.Pairs[1].Positive, set.Pairs[1].Negative));
        Assert.EndsWith("dev.json[item 1]", set.Pairs[1].Origin);
    }

    [Fact]
    public void Svamp_wrong_answer_comes_from_the_most_similar_problem_with_another_answer()
    {
        var path = Path.Combine(_dir, "svamp.json");
        File.WriteAllText(path, """
            [
              {"Body": "Tom has 3 apples and buys 4 more.", "Question": "How many apples does Tom have?", "Answer": 7.0},
              {"Body": "Tom has 5 apples and buys 2 more.", "Question": "How many apples does Tom have?", "Answer": 7.0},
              {"Body": "Tom has 3 pears and buys 4 more.", "Question": "How many pears does Tom have?", "Answer": 2.5},
              {"Body": "A train goes 60 miles per hour for 2 hours.", "Question": "How far does it go?", "Answer": 120.0}
            ]
            """);
        var set = TaskPairs.Build(BenchmarkTask.Svamp, path, new PairOptions());
        // Problem 0: problem 1 is closest but has the same answer (7), so problem 2 (pears, 2.5) is used.
        Assert.Equal("Answer the following grade-school math word problem. Reply with only the final answer as a number.\n" +
                     "Question: Tom has 3 apples and buys 4 more. How many apples does Tom have?\nAnswer:", set.Pairs[0].Prompt);
        Assert.Equal((" 7", " 2.5"), (set.Pairs[0].Positive, set.Pairs[0].Negative));
        Assert.Equal((" 2.5", " 7"), (set.Pairs[2].Positive, set.Pairs[2].Negative)); // closest is problem 0 (ties go earlier)
        Assert.Equal(" 7", set.Pairs[3].Negative);
        Assert.Contains("Jaccard", set.Description);
    }

    [Fact]
    public void Jaccard_over_lower_cased_word_sets_by_hand()
    {
        var a = SvampNeighbours.Words("Tom has 3 apples, Tom!");
        Assert.Equal(["tom", "has", "3", "apples"], a.ToArray());
        var b = SvampNeighbours.Words("tom HAS pears");
        Assert.Equal(2.0 / 5, SvampNeighbours.Jaccard(a, b)); // {tom, has} / {tom, has, 3, apples, pears}
    }

    [SharedFact]
    public void Svamp_train_file_builds_pairs_with_different_answers()
    {
        var set = TaskPairs.Build(BenchmarkTask.Svamp, SharedData.Path("data", "svamp", "train.json"), new PairOptions(Skip: 650));
        Assert.Equal(50, set.Pairs.Count);
        Assert.All(set.Pairs, p => Assert.NotEqual(p.Positive, p.Negative));
    }
}
