using System.Text.Json;
using OnnxSteer.Evaluation;
using OnnxSteer.Generation;
using OnnxSteer.Import;
using OnnxSteer.Pairs;
using OnnxSteer.Tests.Reference;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;
using Xunit.Abstractions;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Evaluation;

/// <summary>eval --task pairs and the fluency guard, on the imported stories260K model.</summary>
public class PairsAndFluencyTests(ITestOutputHelper output) : IDisposable
{
    private static string Model => ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp32);
    private readonly string _dir = Directory.CreateTempSubdirectory("onnxsteer-pairs-eval-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Summed log-softmax of the continuation's tokens, straight from Forward and the definition.</summary>
    private static double Independent(DecoderModel model, ITokenizer tokenizer, string prompt, string answer)
    {
        var promptIds = tokenizer.EncodeToIds(prompt);
        var ids = tokenizer.EncodeToIds(prompt + answer);
        var logits = model.Forward(ids);
        double sum = 0;
        for (var p = promptIds.Count; p < ids.Count; p++)
        {
            var row = logits.Row(p - 1).ToArray().Select(v => (double)v).ToArray();
            var max = row.Max();
            sum += row[ids[p]] - max - Math.Log(row.Sum(v => Math.Exp(v - max)));
        }
        return sum;
    }

    [SharedFact]
    public void Fluency_equals_the_mean_loglik_of_the_reference_forward_pass()
    {
        // Independent of DecoderModel, ORT and ChoiceScorer: LlamaReference on the checkpoint, log-softmax in double.
        var tokenizer = TokenizerLoader.Load(Model);
        FluencyResult measured;
        using (var model = DecoderModel.Open(Model)) measured = Fluency.Measure(model, tokenizer, NeutralTexts.Default);
        var reference = LlamaReference.Load(ImportedModels.CheckpointPath);
        double sum = 0;
        int tokens = 0;
        foreach (var text in NeutralTexts.Default)
        {
            var ids = tokenizer.EncodeToIds(text);
            var logits = reference.Forward(ids).Logits;
            for (var p = 1; p < ids.Count; p++, tokens++)
            {
                var row = logits[p - 1].Select(v => (double)v).ToArray();
                var max = row.Max();
                sum += row[ids[p]] - max - Math.Log(row.Sum(v => Math.Exp(v - max)));
            }
        }
        output.WriteLine($"fluency: library {measured.MeanLogLikelihood:G9} over {measured.Tokens} tokens, reference {sum / tokens:G9} over {tokens}");
        Assert.Equal(tokens, measured.Tokens);
        // fp32 ONNX logits differ from the reference's by < 1e-5 (Llama2cRunAnchorTests); the means differ by 1.6e-7
        // measured, bound 2e-6.
        Assert.Equal(sum / tokens, measured.MeanLogLikelihood, 2e-6);
    }

    private string WritePairs()
    {
        var path = Path.Combine(_dir, "pairs.jsonl");
        var pairs = new[]
        {
            ("Once upon a time, there was a little", " girl", " xylophone"),
            ("Tom had a red ball. He threw it to his", " dog", " dog's"),
            ("The sun was warm and the sky was", " blue", " loud"),
            ("Lily went to the park. She played on the", " swing", " the"),
            ("Mom made soup for", " dinner", " Tom"),
            ("The cat sat by the", " window", " cat"),
        };
        File.WriteAllLines(path, pairs.Select(p => JsonSerializer.Serialize(new { prompt = p.Item1, positive = p.Item2, negative = p.Item3 })).Prepend("").Append(""));
        return path;
    }

    [SharedFact]
    public void Pairs_task_counts_a_pair_right_exactly_when_the_positive_outscores_the_negative()
    {
        var path = WritePairs();
        var items = EvalItems.Load(BenchmarkTask.Pairs, path);
        Assert.Equal(6, items.Count);
        var tokenizer = TokenizerLoader.Load(Model);
        using var model = DecoderModel.Open(Model);
        var result = new Evaluator(model, tokenizer).Run(BenchmarkTask.Pairs, EvalMode.Loglik, items);
        var pairs = PairsJsonl.Read(path, new PairOptions());
        for (var i = 0; i < items.Count; i++)
        {
            var pos = Independent(model, tokenizer, pairs.Pairs[i].Prompt, pairs.Pairs[i].Positive);
            var neg = Independent(model, tokenizer, pairs.Pairs[i].Prompt, pairs.Pairs[i].Negative);
            Assert.Equal(pos > neg, result.Items[i].Correct);
            Assert.Equal(pairs.Pairs[i].Positive, result.Items[i].Gold);
            // Stored as [negative, positive]; 1e-6 absolute for sums of a few log-probabilities in different orders.
            Assert.Equal(neg, result.Items[i].LogLikelihoods![0], 1e-6);
            Assert.Equal(pos, result.Items[i].LogLikelihoods![1], 1e-6);
        }
        // The story model prefers the in-domain answers in most of these; printed, not asserted.
        output.WriteLine(EvalReport.Text("stories260K pairs", result));
        Assert.Equal(ExitCodes.Usage, ErrorReporter.ExitCode(Assert.Throws<InvalidParameterException>(() =>
            new Evaluator(model, tokenizer).Run(BenchmarkTask.Pairs, EvalMode.Generate, items))));
    }

    [Fact]
    public void A_tie_between_the_answers_counts_as_wrong()
    {
        // Same prompt and answers but a tie forced through the scores: the choice order makes ties pick the negative.
        var item = EvalItems.FromPair(BenchmarkTask.Pairs, new ContrastivePair("p", " a", " b", "x:1"));
        Assert.Equal([" b", " a"], item.Choices);
        Assert.Equal(1, item.Gold);
        Assert.NotEqual(item.Gold, ChoiceScorer.ArgMax([-1.5, -1.5]));
    }

    [SharedFact]
    public void Cli_eval_against_reports_fluency_beside_accuracy_and_it_equals_the_library_value()
    {
        // Plumbing: the expected fluency is the library's; Fluency_equals_the_mean_loglik_of_the_reference_forward_pass
        // checks the library's value independently.
        var path = WritePairs();
        var fp16 = ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp16);
        var (code, stdout, stderr) = CliProcess.Run(null, "eval", Model, "--task", "pairs", "--data", path,
            "--against", fp16, "--json", "--threads", "1");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal(NeutralTexts.DefaultName, root.GetProperty("fluency_texts").GetString());
        var model = root.GetProperty("model").GetProperty("fluency");
        var against = root.GetProperty("against").GetProperty("fluency");
        var tokenizer = TokenizerLoader.Load(Model);
        using (var m = DecoderModel.Open(Model))
        {
            var expected = Fluency.Measure(m, tokenizer, NeutralTexts.Default);
            Assert.Equal(expected.MeanLogLikelihood, model.GetProperty("mean_loglik").GetDouble(), 12);
            Assert.Equal(expected.Tokens, model.GetProperty("tokens").GetInt32());
            Assert.Equal(Math.Exp(-expected.MeanLogLikelihood), model.GetProperty("perplexity").GetDouble(), 9);
        }
        // fp16 weights change the value a little, not the token count.
        Assert.Equal(model.GetProperty("tokens").GetInt32(), against.GetProperty("tokens").GetInt32());
        Assert.NotEqual(model.GetProperty("mean_loglik").GetDouble(), against.GetProperty("mean_loglik").GetDouble());
        Assert.InRange(against.GetProperty("mean_loglik").GetDouble() - model.GetProperty("mean_loglik").GetDouble(), -0.05, 0.05);

        // The text form the CLI prints without --json.
        var m1 = new FluencyResult(model.GetProperty("mean_loglik").GetDouble(), model.GetProperty("tokens").GetInt32(), 20, 0);
        var a1 = new FluencyResult(against.GetProperty("mean_loglik").GetDouble(), against.GetProperty("tokens").GetInt32(), 20, 0);
        var line = EvalReport.FluencyText("against", a1, m1);
        Assert.Contains($"mean log-likelihood {a1.MeanLogLikelihood.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture)} nats/token", line);
        Assert.Contains($"{(a1.MeanLogLikelihood - m1.MeanLogLikelihood).ToString("+0.0000;-0.0000", System.Globalization.CultureInfo.InvariantCulture)} vs model", line);
        output.WriteLine(stdout);
    }

    [Fact]
    public void Mode_defaults_to_generate_except_for_pairs_which_is_loglik_only()
    {
        Assert.Equal(EvalMode.Generate, EvalModes.Resolve(null, BenchmarkTask.Copa));
        Assert.Equal(EvalMode.Loglik, EvalModes.Resolve(null, BenchmarkTask.Pairs));
        Assert.Equal(EvalMode.Loglik, EvalModes.Resolve("loglik", BenchmarkTask.BoolQ));
        Assert.Equal(ExitCodes.Usage, ErrorReporter.ExitCode(Assert.Throws<InvalidParameterException>(() => EvalModes.Resolve("beam", BenchmarkTask.Copa))));
    }

    [Fact]
    public void Fluency_texts_file_is_one_text_per_non_blank_line()
    {
        var path = Path.Combine(_dir, "texts.txt");
        File.WriteAllText(path, "One day a boy went out.\n\n   \nThe end.\n");
        Assert.Equal(["One day a boy went out.", "The end."], NeutralTexts.Load(path));
        File.WriteAllText(path, "\n \n");
        Assert.Equal(ExitCodes.InvalidInput, ErrorReporter.ExitCode(Assert.Throws<InvalidInputException>(() => NeutralTexts.Load(path))));
    }
}
