using OnnxSteer.Cli;
using OnnxSteer.Numerics;
using System.Diagnostics;
using System.Text.Json;
using OnnxSteer.Evaluation;
using OnnxSteer.Generation;
using OnnxSteer.Import;
using OnnxSteer.Pairs;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Evaluation;

/// <summary>
/// Evaluation end to end on the imported stories260K model and real COPA items. A 260K-parameter story model is at
/// chance on COPA; the accuracy is printed as it is, and what is asserted is that the harness computes what it says.
/// </summary>
public class Stories260KEvalTests(ITestOutputHelper output)
{
    private static string CopaVal => SharedData.Path("data", "copa", "val.jsonl");
    private static string Model => ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp32);

    /// <summary>Independent log-softmax: straight from the definition, log(exp(x_t) / Σ exp(x_i)), with a max shift.</summary>
    private static double LogSoftmaxAt(ReadOnlySpan<float> row, int token)
    {
        var values = row.ToArray().Select(v => (double)v).ToArray();
        var max = values.Max();
        return values[token] - (max + Math.Log(values.Sum(v => Math.Exp(v - max))));
    }

    [SharedFact]
    public void Loglik_ChoosesTheChoiceWithTheLargestIndependentLogProbability()
    {
        var items = EvalItems.Load(BenchmarkTask.Copa, CopaVal, limit: 20);
        var tokenizer = TokenizerLoader.Load(Model);
        using var model = DecoderModel.Open(Model);
        var result = new Evaluator(model, tokenizer).Run(BenchmarkTask.Copa, EvalMode.Loglik, items);

        Assert.Equal(20, result.Items.Count);
        Assert.False(result.Interrupted);
        for (var i = 0; i < items.Count; i++)
        {
            var expected = new double[items[i].Choices.Count];
            for (var c = 0; c < expected.Length; c++)
            {
                // Recomputed here: the prompt's tokens, then each answer token scored at the position before it.
                var promptIds = tokenizer.EncodeToIds(items[i].Prompt);
                var ids = tokenizer.EncodeToIds(items[i].Prompt + items[i].Choices[c]);
                var logits = model.Forward(ids);
                for (var p = promptIds.Count; p < ids.Count; p++) expected[c] += LogSoftmaxAt(logits.Row(p - 1), ids[p]);
            }
            // Same float logits, different summation order: 1e-6 absolute is ample for sums of a few log-probabilities.
            for (var c = 0; c < expected.Length; c++) Assert.Equal(expected[c], result.Items[i].LogLikelihoods![c], 1e-6);
            var best = expected[1] > expected[0] ? 1 : 0;
            Assert.Equal(items[i].Choices[best], result.Items[i].Prediction);
            Assert.Equal(best == items[i].Gold, result.Items[i].Correct);
            Assert.Equal(items[i].GoldText, result.Items[i].Gold);
            // One-character answers: length normalisation cannot change the choice.
            Assert.Equal(result.Items[i].Correct, result.Items[i].CorrectNorm);
        }
        Assert.Equal(result.Items.Count(x => x.Prediction == x.Gold), result.Correct);
        Assert.Equal(result.Correct, result.CorrectNorm);
        // The reported interval is the 95% Wilson score interval of these counts, recomputed here from its formula.
        double n = result.Items.Count, share = (double)result.Correct / n, z = 1.959963984540054;
        double centre = (share + z * z / (2 * n)) / (1 + z * z / n);
        double half = z * Math.Sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n);
        Assert.Equal(centre - half, result.Interval.Low, 12);
        Assert.Equal(centre + half, result.Interval.High, 12);
        output.WriteLine(EvalReport.Text("stories260K", result));
    }

    [SharedFact]
    public void Generate_PredictsTheGreedyNextTokenAndJudgesByExactMatch()
    {
        var items = EvalItems.Load(BenchmarkTask.Copa, CopaVal, offset: 20, limit: 8);
        var tokenizer = TokenizerLoader.Load(Model);
        using var model = DecoderModel.Open(Model);
        var result = new Evaluator(model, tokenizer).Run(BenchmarkTask.Copa, EvalMode.Generate, items);

        Assert.Equal(8, result.Items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            // Independent: one full forward pass over the prompt and the argmax of its last row.
            var ids = tokenizer.EncodeToIds(items[i].Prompt);
            var row = model.Forward(ids).Row(ids.Count - 1).ToArray();
            var next = Array.IndexOf(row, row.Max());
            var text = tokenizer.Decode([next]);
            Assert.Equal(text, result.Items[i].Prediction);
            Assert.Equal(text.Trim().ToLowerInvariant() == items[i].GoldText.ToLowerInvariant(), result.Items[i].Correct);
        }
        Assert.Null(result.CorrectNorm);
        output.WriteLine(EvalReport.Text("stories260K", result));
    }

    private static (int Code, string Stdout, string Stderr) RunCli(params string[] args) => CliProcess.Run(null, args);

    [SharedFact]
    public void Cli_AgainstAnotherModel_PairedCountsAgreeWithTheItemsFile()
    {
        var other = ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp16);
        var outFile = Path.Combine(Path.GetTempPath(), $"onnxsteer-eval-{Guid.NewGuid():N}.jsonl");
        try
        {
            var (code, stdout, stderr) = RunCli("eval", Model, "--task", "copa", "--data", CopaVal, "--limit", "12", "--offset", "40",
                "--mode", "loglik", "--json", "--out", outFile, "--against", other, "--threads", "1");
            Assert.True(code == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            var root = doc.RootElement;
            Assert.Equal(EvalReport.Schema, root.GetProperty("schema").GetString());
            var lines = File.ReadAllLines(outFile).Select(l => JsonDocument.Parse(l).RootElement).ToList();
            Assert.Equal(12, lines.Count);
            var mine = lines.Select(l => l.GetProperty("correct").GetBoolean()).ToList();
            var theirs = lines.Select(l => l.GetProperty("against_correct").GetBoolean()).ToList();
            var paired = root.GetProperty("paired");
            Assert.Equal(mine.Count(x => x), root.GetProperty("model").GetProperty("correct").GetInt32());
            Assert.Equal(theirs.Count(x => x), root.GetProperty("against").GetProperty("correct").GetInt32());
            var both = mine.Zip(theirs).Count(z => z.First && z.Second);
            var onlyMine = mine.Zip(theirs).Count(z => z.First && !z.Second);
            var onlyTheirs = mine.Zip(theirs).Count(z => !z.First && z.Second);
            Assert.Equal(both, paired.GetProperty("both_right").GetInt32());
            Assert.Equal(onlyMine, paired.GetProperty("only_model").GetInt32());
            Assert.Equal(onlyTheirs, paired.GetProperty("only_against").GetInt32());
            Assert.Equal(12 - both - onlyMine - onlyTheirs, paired.GetProperty("both_wrong").GetInt32());
            // Plumbing: the p-value is the library's; McNemarExactP itself is checked against hand values in StatisticsTests.
            Assert.Equal(Statistics.McNemarExactP(onlyMine, onlyTheirs), paired.GetProperty("mcnemar_exact_p").GetDouble(), 12);
            Assert.Equal($"{CopaVal}:41", lines[0].GetProperty("id").GetString());

            // Plumbing, not coverage of scoring: the CLI's fp32 run equals the library's on the same items (the library's
            // choice scoring is checked against an independent log-softmax in Loglik_ChoosesTheChoiceWith... above).
            var items = EvalItems.Load(BenchmarkTask.Copa, CopaVal, offset: 40, limit: 12);
            using var model = DecoderModel.Open(Model);
            var library = new Evaluator(model, TokenizerLoader.Load(Model)).Run(BenchmarkTask.Copa, EvalMode.Loglik, items);
            Assert.Equal(library.Items.Select(x => x.Correct), mine);
            output.WriteLine(stdout);
        }
        finally { File.Delete(outFile); }
    }

    [SharedFact]
    public void Cli_BadTask_IsAUsageError()
    {
        var code = OnnxSteer.Cli.CliApp.RunAsync(["eval", Model, "--task", "mmlu", "--data", CopaVal]).GetAwaiter().GetResult();
        Assert.Equal(ExitCodes.Usage, code);
    }
}
