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
        var task = new Option<string>("--task") { Description = "boolq, copa, winogrande or svamp; prompts use the method's templates (the same as profiling).", Required = true, HelpName = "TASK" };
        var data = new Option<string>("--data") { Description = "The task's data file (boolq/copa .jsonl, copa .xml, winogrande .json/.jsonl, svamp .json).", Required = true, HelpName = "FILE" };
        var limit = new Option<int?>("--limit") { Description = "Evaluate at most N items.", HelpName = "N" };
        var offset = new Option<int>("--offset") { Description = "Skip the first M records (keep evaluation items apart from those the profile was built on).", HelpName = "M" };
        var mode = new Option<string>("--mode") { Description = "generate: greedy, exact match after lower-casing and trimming (svamp: the number after #### or the last number, up to 50 new tokens). loglik: each choice scored by its summed log-probability (acc and acc_norm, as lm-evaluation-harness).", DefaultValueFactory = _ => "generate", HelpName = "generate|loglik" };
        mode.AcceptOnlyFromAmong("generate", "loglik");
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON (schema onnxsteer.eval/1) instead of text." };
        var output = new Option<string?>("--out") { Description = "Write one JSON line per item (id, prediction, gold, correct; with --against also against_prediction, against_correct).", HelpName = "FILE" };
        var against = new Option<string?>("--against") { Description = "A second model (e.g. the steered one) evaluated on the same items: prints the paired difference, items each got right alone, and McNemar's exact p.", HelpName = "MODEL" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json or its folder (default: MODEL's folder).", HelpName = "PATH" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress output." };
        var runtime = new RuntimeOptions();

        var command = new Command("eval", "Evaluate a model on a benchmark task (accuracy with a 95% Wilson interval), optionally paired against a steered model (McNemar's exact test).");
        command.Arguments.Add(model);
        foreach (var o in new Option[] { task, data, limit, offset, mode, json, output, against, tokenizer, quiet }) command.Options.Add(o);
        runtime.AddTo(command);
        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            var taskValue = TaskTemplates.ParseTask(parse.GetValue(task)!);
            var modeValue = parse.GetValue(mode) == "loglik" ? EvalMode.Loglik : EvalMode.Generate;
            var items = EvalItems.Load(taskValue, parse.GetValue(data)!, parse.GetValue(offset), parse.GetValue(limit));
            var modelPath = parse.GetValue(model)!;
            var tok = TokenizerLoader.Load(parse.GetValue(tokenizer) ?? TokenizerFolder(modelPath));
            var settings = runtime.Read(parse);
            var isQuiet = parse.GetValue(quiet);

            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
            Console.CancelKeyPress += onCancel;
            EvalResult first;
            EvalResult? second = null;
            try
            {
                first = Evaluate(modelPath, settings, tok, taskValue, modeValue, items, isQuiet, "model", cancel.Token);
                if (parse.GetValue(against) is { } otherPath && !first.Interrupted)
                    second = Evaluate(otherPath, settings, tok, taskValue, modeValue, items, isQuiet, "against", cancel.Token);
            }
            finally { Console.CancelKeyPress -= onCancel; }

            var comparison = second is null ? null : EvalComparison.Of(first, second);
            if (parse.GetValue(output) is { } outPath)
            {
                EvalReport.WriteItems(outPath, first, second);
                Console.Error.WriteLine($"wrote {comparison?.Counts.Total ?? first.Items.Count} items to {outPath}");
            }
            if (parse.GetValue(json)) Console.Write(EvalReport.Json(first, comparison));
            else
            {
                Console.Write(EvalReport.Text("model", first));
                if (second is not null) Console.Write(EvalReport.Text("against", second));
                if (comparison is not null) Console.Write(EvalReport.Text(comparison));
            }
            if (first.Interrupted || second?.Interrupted == true)
            {
                Console.Error.WriteLine("interrupted: the results above cover only the items finished" + (parse.GetValue(output) is { } p ? $", all kept in {p}" : ""));
                return ExitCodes.Interrupted;
            }
            return 0;
        }));
        return command;
    }

    private static string TokenizerFolder(string modelPath) =>
        Directory.Exists(modelPath) ? modelPath : Path.GetDirectoryName(Path.GetFullPath(modelPath))!;

    private static EvalResult Evaluate(string path, Runtime.RuntimeSettings settings, ITokenizer tok, BenchmarkTask task, EvalMode mode,
        IReadOnlyList<EvalItem> items, bool quiet, string label, CancellationToken cancel)
    {
        using var decoder = DecoderModel.Open(path, settings);
        var done = 0;
        var showProgress = !quiet && !Console.IsErrorRedirected;
        var result = new Evaluator(decoder, tok).Run(task, mode, items, _ =>
        {
            done++;
            if (showProgress) Console.Error.Write($"\r{label}: {done}/{items.Count} items");
        }, cancel);
        if (showProgress) Console.Error.WriteLine();
        return result;
    }
}
