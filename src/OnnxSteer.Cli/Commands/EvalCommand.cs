using System.CommandLine;
using OnnxSteer.Evaluation;
using OnnxSteer.Generation;
using OnnxSteer.Pairs;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Cli.Commands;

/// <summary>
/// <c>onnxsteer eval MODEL --task T --data FILE [--mode generate|loglik] [--against STEERED]</c>: accuracy with a 95%
/// Wilson interval, one JSON line per item, and a paired McNemar comparison against a second model.
/// </summary>
public sealed class EvalCommand : ICliCommand
{
    public Command Build()
    {
        var model = new Argument<string>("MODEL") { Description = "The ONNX model: a folder holding model.onnx (or the file genai_config.json names) and tokenizer.json, or a .onnx file." };
        var task = new Option<string>("--task") { Description = "boolq, copa, winogrande or svamp (prompts use the method's templates, the same as profiling), or pairs: a pairs JSONL ({prompt, positive, negative} per line; --mode loglik), right when the positive answer's summed log-probability is strictly higher than the negative's.", Required = true, HelpName = "TASK" };
        var data = new Option<string>("--data") { Description = "The task's data file (boolq/copa .jsonl, copa .xml, winogrande .json/.jsonl, svamp .json, pairs .jsonl).", Required = true, HelpName = "FILE" };
        var limit = new Option<int?>("--limit") { Description = "Evaluate at most N items.", HelpName = "N" };
        var offset = new Option<int>("--offset") { Description = "Skip the first M records (keep evaluation items apart from those the profile was built on).", HelpName = "M" };
        var mode = new Option<string?>("--mode") { Description = "generate: greedy, exact match after lower-casing and trimming (svamp: the number after #### or the last number, up to 50 new tokens). loglik: each choice scored by its summed log-probability (acc and acc_norm, as lm-evaluation-harness). Default: generate, or loglik for --task pairs.", HelpName = "generate|loglik" };
        mode.AcceptOnlyFromAmong("generate", "loglik");
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON (schema onnxsteer.eval/1) instead of text." };
        var output = new Option<string?>("--output", "-o") { Description = "Also write one JSON line per item (id, prediction, gold, correct; with --against also against_prediction, against_correct).", HelpName = "FILE" };
        var outputOld = OldNames.For(output, "--out");
        var force = OutputChecks.ForceOption();
        var against = new Option<string?>("--against") { Description = "A second model (e.g. the steered one) evaluated on the same items: prints the paired difference, items each got right alone, and McNemar's exact p.", HelpName = "MODEL" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json or its folder (default: MODEL's folder).", HelpName = "PATH" };
        var fluency = new Option<string?>("--fluency") { Description = "Fluency guard: neutral texts, one per line, scored by mean log-likelihood per token (with --against the built-in 20 short stories are scored when this is not given).", HelpName = "FILE" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress output." };
        var runtime = new RuntimeOptions();

        var command = new Command("eval", "Evaluate a model on a benchmark task (accuracy with a 95% Wilson interval), optionally paired against a steered model (McNemar's exact test).");
        command.Arguments.Add(model);
        foreach (var o in new Option[] { task, data, limit, offset, mode, json, output, against, fluency, tokenizer, quiet, force, outputOld }) command.Options.Add(o);
        runtime.AddTo(command);
        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var taskValue = TaskTemplates.ParseTask(parse.GetValue(task)!);
            var modeValue = EvalModes.Resolve(parse.GetValue(mode), taskValue);
            if (taskValue == BenchmarkTask.Pairs && modeValue == EvalMode.Generate)
                throw new CommandLineException("--task pairs is scored by log-likelihood only: use --mode loglik", ExitCodes.Usage);
            var itemsOut = OldNames.Value(parse, output, outputOld);
            if (itemsOut is not null) OutputChecks.File(itemsOut, parse.GetValue(force));
            var dataPath = parse.GetValue(data)!;
            var items = EvalItems.Load(taskValue, dataPath, parse.GetValue(offset), parse.GetValue(limit));
            // An accuracy of 0/0 is no result: say why there is nothing to evaluate (exit 3), as profile does for no pairs.
            if (items.Count == 0)
                throw new CommandLineException(parse.GetValue(offset) > 0 ? $"{dataPath}: no items to evaluate after --offset {parse.GetValue(offset)}"
                    : parse.GetValue(limit) == 0 ? $"{dataPath}: no items to evaluate with --limit 0" : $"{dataPath}: no items to evaluate (the file is empty)", ExitCodes.InvalidInput);
            var modelPath = parse.GetValue(model)!;
            ModelSniff.RefuseNonOnnx(modelPath);
            if (parse.GetValue(against) is { } againstPath) ModelSniff.RefuseNonOnnx(againstPath);
            var tok = TokenizerLoader.Load(parse.GetValue(tokenizer) ?? TokenizerFolder(modelPath));
            var settings = runtime.Read(parse);
            var isQuiet = parse.GetValue(quiet);
            var otherPath = parse.GetValue(against);
            // The fluency guard runs beside --against (default texts), or whenever --fluency names texts.
            var fluencyPath = parse.GetValue(fluency);
            var (texts, textsName) = fluencyPath is not null || otherPath is not null ? NeutralTexts.LoadOrDefault(fluencyPath) : (null, null);

            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
            Console.CancelKeyPress += onCancel;
            EvalResult first;
            EvalResult? second = null;
            FluencyResult? firstFluency = null, secondFluency = null;
            try
            {
                (first, firstFluency) = Evaluate(modelPath, settings, tok, taskValue, modeValue, items, texts, isQuiet, "model", cancel.Token);
                if (otherPath is not null && !first.Interrupted)
                    (second, secondFluency) = Evaluate(otherPath, settings, tok, taskValue, modeValue, items, texts, isQuiet, "against", cancel.Token);
            }
            finally { Console.CancelKeyPress -= onCancel; }

            var comparison = second is null ? null : EvalComparison.Of(first, second);
            if (itemsOut is { } outPath)
            {
                EvalReport.WriteItems(outPath, first, second);
                Console.Error.WriteLine($"wrote {comparison?.Counts.Total ?? first.Items.Count} items to {outPath}");
            }
            if (parse.GetValue(json)) Console.Write(EvalReport.Json(first, comparison, firstFluency, secondFluency, firstFluency is null ? null : textsName));
            else
            {
                Console.Write(EvalReport.Text("model", first));
                if (second is not null) Console.Write(EvalReport.Text("against", second));
                if (comparison is not null) Console.Write(EvalReport.Text(comparison));
                if (firstFluency is not null) Console.Write(EvalReport.FluencyText("model", firstFluency));
                if (secondFluency is not null) Console.Write(EvalReport.FluencyText("against", secondFluency, firstFluency));
            }
            if (first.Interrupted || second?.Interrupted == true)
            {
                Console.Error.WriteLine("interrupted: the results above cover only the items finished" + (itemsOut is { } p ? $", all kept in {p}" : ""));
                return ExitCodes.Interrupted;
            }
            return 0;
        }));
        return command;
    }

    private static string TokenizerFolder(string modelPath) =>
        Directory.Exists(modelPath) ? modelPath : Path.GetDirectoryName(Path.GetFullPath(modelPath))!;

    /// <summary>One model on the items, then (unless interrupted) on the fluency texts, under a progress bar on a terminal.</summary>
    private static (EvalResult, FluencyResult?) Evaluate(string path, Runtime.RuntimeSettings settings, ITokenizer tok, BenchmarkTask task, EvalMode mode,
        IReadOnlyList<EvalItem> items, IReadOnlyList<string>? texts, bool quiet, string label, CancellationToken cancel)
    {
        using var decoder = DecoderModel.Open(path, settings);
        var total = items.Count + (texts?.Count ?? 0);
        return TerminalProgress.Run(quiet, label, report =>
        {
            var done = 0;
            var result = new Evaluator(decoder, tok).Run(task, mode, items, _ => report($"{++done}/{items.Count} items", done, total), cancel);
            if (result.Interrupted || texts is null) return (result, (FluencyResult?)null);
            var scored = 0;
            try
            {
                return (result, Fluency.Measure(decoder, tok, texts, () => report($"fluency {++scored}/{texts.Count} texts", items.Count + scored, total), cancel));
            }
            catch (OperationCanceledException) { return (result with { Interrupted = true }, null); }
        });
    }
}
