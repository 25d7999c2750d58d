using System.Text.Json;
using OnnxSteer.Evaluation;
using OnnxSteer.Pairs;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Evaluation;

/// <summary>Answer judging (exact match, SVAMP numbers) and item loading from the shared task data.</summary>
public class AnswerMatchingTests
{
    [Theory]
    [InlineData("The answer is 12. #### 7", 7.0)]
    [InlineData("#### -3.5 or maybe 4", -3.5)]
    [InlineData("I think 3 then 4.5", 4.5)]
    [InlineData(" 1,200 apples", 1200.0)]
    [InlineData("42", 42.0)]
    public void ExtractNumber_TakesMarkedElseLastNumber(string text, double expected) =>
        Assert.Equal(expected, AnswerMatching.ExtractNumber(text));

    [Theory]
    [InlineData("no digits here")]
    [InlineData("#### none")]
    [InlineData("")]
    public void ExtractNumber_NoNumberIsNull(string text) => Assert.Null(AnswerMatching.ExtractNumber(text));

    [Fact]
    public void Matching_LowerCasesTrimsAndComparesNumbersAsFloats()
    {
        Assert.True(AnswerMatching.ExactMatch(" Yes\n", TaskTemplates.Yes));
        Assert.False(AnswerMatching.ExactMatch("yes.", TaskTemplates.Yes));
        Assert.True(AnswerMatching.ExactMatch("a", TaskTemplates.A));
        Assert.True(AnswerMatching.NumberMatch(" 8.0 apples", 8));
        Assert.True(AnswerMatching.NumberMatch("so #### 8", 8));
        Assert.False(AnswerMatching.NumberMatch("8.01", 8));
        Assert.False(AnswerMatching.NumberMatch("eight", 8));
    }

    [SharedFact]
    public void CopaItems_HaveFixedChoicesAndTheFileLabel()
    {
        var path = SharedData.Path("data", "copa", "val.jsonl");
        var items = EvalItems.Load(BenchmarkTask.Copa, path, offset: 3, limit: 6);
        Assert.Equal(6, items.Count);
        var lines = File.ReadLines(path).Where(l => l.Trim().Length > 0).Skip(3).Take(6).ToList();
        for (var i = 0; i < items.Count; i++)
        {
            using var doc = JsonDocument.Parse(lines[i]);
            var r = doc.RootElement;
            Assert.Equal(["A", "B"], items[i].Choices);
            Assert.Equal(r.GetProperty("label").GetInt32(), items[i].Gold);
            Assert.Contains(r.GetProperty("premise").GetString()!, items[i].Prompt);
            Assert.Equal($"{path}:{i + 4}", items[i].Id);
        }
    }

    [SharedFact]
    public void BoolQAndSvampItems_GoldIsTheLabelledAnswer()
    {
        var boolq = EvalItems.Load(BenchmarkTask.BoolQ, SharedData.Path("data", "boolq", "dev.jsonl"), limit: 5);
        var labels = File.ReadLines(SharedData.Path("data", "boolq", "dev.jsonl")).Take(5)
            .Select(l => { using var d = JsonDocument.Parse(l); return d.RootElement.GetProperty("label").ToString(); }).ToList();
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal([" yes", " no"], boolq[i].Choices);
            Assert.Equal(labels[i] is "True" or "true" ? 0 : 1, boolq[i].Gold);
        }
        var svamp = EvalItems.Load(BenchmarkTask.Svamp, SharedData.Path("data", "svamp", "test.json"), limit: 3);
        using var all = JsonDocument.Parse(File.ReadAllText(SharedData.Path("data", "svamp", "test.json")));
        for (var i = 0; i < 3; i++)
            Assert.Equal(all.RootElement[i].GetProperty("Answer").GetDouble(), double.Parse(svamp[i].GoldText, System.Globalization.CultureInfo.InvariantCulture));
    }
}
