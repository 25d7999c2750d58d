using System.CommandLine;
using OnnxSteer.Cli.Options;
using OnnxSteer.Evaluation;
using OnnxSteer.Generation;
using OnnxSteer.Pairs;
using OnnxSteer.Runtime;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Cli.Commands;

/// <summary>What <c>onnxsteer eval</c> was asked.</summary>
internal sealed record EvalOptions(string Model, BenchmarkTask Task, EvalMode Mode, string Data, int Offset, int? Limit, bool Json, string? ItemsFile,
    bool Force, string? Against, string? Tokenizer, string? Fluency, bool Quiet, RuntimeSettings Runtime);

/// <summary>
/// <c>onnxsteer eval MODEL --task T --data FILE [--mode generate|loglik] [--against STEERED]</c>: accuracy with a 95%
/// Wilson interval, one JSON line per item, and a paired McNemar comparison against a second model.
/// </summary>
internal sealed class EvalCommand : CliCommand<EvalOptions>
{
    private readonly Argument<string> _model = new("MODEL") { Description = "The ONNX model: a folder holding model.onnx (or the file genai_config.json names) and tokenizer.json, or a .onnx file." };
    private readonly Option<string?> _variant = CommonOptions.Variant();
    private readonly Option<string> _task = new("--task") { Description = "boolq, copa, winogrande or svamp (prompts use the method's templates, the same as profiling), or pairs: a pairs JSONL ({prompt, positive, negative} per line; --mode loglik), right when the positive answer's summed log-probability is strictly higher than the negative's.", Required = true, HelpName = "TASK" };
    private readonly Option<string> _data = new("--data") { Description = "The task's data file (boolq/copa .jsonl, copa .xml, winogrande .json/.jsonl, svamp .json, pairs .jsonl).", Required = true, HelpName = "FILE" };
    private readonly Option<int?> _limit = new("--limit") { Description = "Evaluate at most N items.", HelpName = "N" };
    private readonly Option<int> _offset = new("--offset") { Description = "Skip the first M records (keep evaluation items apart from those the profile was built on).", HelpName = "M" };
    private readonly Option<string?> _mode = EvalModeOption("generate: greedy, exact match after lower-casing and trimming (svamp: the number after #### or the last number, up to 50 new tokens). loglik: each choice scored by its summed log-probability (acc and acc_norm, as lm-evaluation-harness). Default: generate, or loglik for --task pairs.");
    private readonly Option<bool> _json = CommonOptions.Json("Print the summary as JSON (schema onnxsteer.eval/1) instead of text.");
    private readonly Option<string?> _output = CommonOptions.OptionalOutput("Also write one JSON line per item (id, prediction, gold, correct; with --against also against_prediction, against_correct).", "FILE");
    private readonly Option<string?> _outputOld;
    private readonly Option<bool> _force = CommonOptions.Force();
    private readonly Option<string?> _against = new("--against") { Description = "A second model (e.g. the steered one) evaluated on the same items: prints the paired difference, items each got right alone, and McNemar's exact p.", HelpName = "MODEL" };
    private readonly Option<string?> _tokenizer = CommonOptions.Tokenizer("tokenizer.json or its folder (default: MODEL's folder).");
    private readonly Option<string?> _fluency = new("--fluency") { Description = "Fluency guard: neutral texts, one per line, scored by mean log-likelihood per token (with --against the built-in 20 short stories are scored when this is not given).", HelpName = "FILE" };
    private readonly Option<bool> _quiet = CommonOptions.Quiet();
    private readonly RuntimeOptions _runtime = new();

    public EvalCommand() => _outputOld = OldNames.For(_output, "--out");

    /// <summary>--mode generate|loglik (eval and sweep).</summary>
    internal static Option<string?> EvalModeOption(string description)
    {
        var mode = new Option<string?>("--mode") { Description = description, HelpName = "generate|loglik" };
        mode.AcceptOnlyFromAmong("generate", "loglik");
        return mode;
    }

    protected override Command Declare() => _runtime.AddedTo(Define("eval",
        "Evaluate a model on a benchmark task (accuracy with a 95% Wilson interval), optionally paired against a steered model (McNemar's exact test).",
        _model, _variant, _task, _data, _limit, _offset, _mode, _json, _output, _against, _fluency, _tokenizer, _quiet, _force, _outputOld));

    protected override EvalOptions Bind(ParseResult parse)
    {
        var task = BenchmarkTasks.Parse(parse.GetValue(_task)!);
        var mode = EvalModes.Resolve(parse.GetValue(_mode), task);
        if (task == BenchmarkTask.Pairs && mode == EvalMode.Generate)
            throw new CommandLineException("--task pairs is scored by log-likelihood only: use --mode loglik", ExitCodes.Usage);
        return new(CommonOptions.Model(parse.GetValue(_model)!, parse.GetValue(_variant)), task, mode, parse.GetValue(_data)!, parse.GetValue(_offset), parse.GetValue(_limit), parse.GetValue(_json),
            OldNames.Value(parse, _output, _outputOld), parse.GetValue(_force), parse.GetValue(_against) is { } against ? CommonOptions.ModelInFolder(against, parse.GetValue(_variant)) : null, parse.GetValue(_tokenizer), parse.GetValue(_fluency),
            parse.GetValue(_quiet), _runtime.Read(parse));
    }

    public override int Run(EvalOptions o, CommandIo io)
    {
        if (o.ItemsFile is not null) OutputChecks.File(o.ItemsFile, o.Force);
        var items = LoadItems(o);
        ModelSniff.RefuseNonOnnx(o.Model);
        if (o.Against is not null) ModelSniff.RefuseNonOnnx(o.Against);
        var tok = TokenizerLoader.Load(o.Tokenizer ?? CommonOptions.ModelFolder(o.Model));
        // The fluency guard runs beside --against (default texts), or whenever --fluency names texts.
        var (texts, textsName) = o.Fluency is not null || o.Against is not null ? NeutralTexts.LoadOrDefault(o.Fluency) : (null, null);
        var run = new EvalRun(o with { Runtime = o.Runtime with { Notice = io.Notice } }, io, tok, items, texts);
        var (first, second) = CtrlC.Cancels(cancel =>
        {
            var model = run.Evaluate(o.Model, "model", cancel);
            return (model, o.Against is not null && !model.Result.Interrupted ? run.Evaluate(o.Against, "against", cancel) : default((EvalResult, FluencyResult?)?));
        });
        return Report(o, io, first, second, textsName);
    }

    /// <summary>The items, or an error saying why there are none: an accuracy of 0/0 is no result (exit 3, as profile does for no pairs).</summary>
    private static IReadOnlyList<EvalItem> LoadItems(EvalOptions o)
    {
        var items = EvalItems.Load(o.Task, o.Data, o.Offset, o.Limit);
        if (items.Count > 0) return items;
        throw new CommandLineException(o.Offset > 0 ? $"{o.Data}: no items to evaluate after --offset {o.Offset}"
            : o.Limit == 0 ? $"{o.Data}: no items to evaluate with --limit 0" : $"{o.Data}: no items to evaluate (the file is empty)", ExitCodes.InvalidInput);
    }

    private static int Report(EvalOptions o, CommandIo io, (EvalResult Result, FluencyResult? Fluency) first, (EvalResult Result, FluencyResult? Fluency)? second, string? textsName)
    {
        var comparison = second is { } s ? EvalComparison.Of(first.Result, s.Result) : null;
        if (o.ItemsFile is { } outPath)
        {
            EvalReport.WriteItems(outPath, first.Result, second?.Result);
            io.Error.WriteLine($"wrote {comparison?.Counts.Total ?? first.Result.Items.Count} items to {outPath}");
        }
        if (o.Json) io.Out.Write(EvalReport.Json(first.Result, comparison, first.Fluency, second?.Fluency, first.Fluency is null ? null : textsName));
        else WriteText(io, first, second, comparison);
        if (!first.Result.Interrupted && second?.Result.Interrupted != true) return ExitCodes.Success;
        io.Error.WriteLine("interrupted: the results above cover only the items finished" + (o.ItemsFile is { } p ? $", all kept in {p}" : ""));
        return ExitCodes.Interrupted;
    }

    private static void WriteText(CommandIo io, (EvalResult Result, FluencyResult? Fluency) first, (EvalResult Result, FluencyResult? Fluency)? second, EvalComparison? comparison)
    {
        io.Out.Write(EvalReport.Text("model", first.Result));
        if (second is { } s) io.Out.Write(EvalReport.Text("against", s.Result));
        if (comparison is not null) io.Out.Write(EvalReport.Text(comparison));
        if (first.Fluency is not null) io.Out.Write(EvalReport.FluencyText("model", first.Fluency));
        if (second?.Fluency is { } againstFluency) io.Out.Write(EvalReport.FluencyText("against", againstFluency, first.Fluency));
    }

    /// <summary>One model on the items, then (unless interrupted) on the fluency texts, under a progress bar on a terminal.</summary>
    private sealed record EvalRun(EvalOptions Options, CommandIo Io, ITokenizer Tokenizer, IReadOnlyList<EvalItem> Items, IReadOnlyList<string>? Texts)
    {
        public (EvalResult Result, FluencyResult? Fluency) Evaluate(string path, string label, CancellationToken cancel)
        {
            using var decoder = DecoderModel.Open(path, Options.Runtime);
            var total = Items.Count + (Texts?.Count ?? 0);
            return TerminalProgress.Run(Io, Options.Quiet, label, report =>
            {
                var done = 0;
                var result = new Evaluator(decoder, Tokenizer).Run(Options.Task, Options.Mode, Items, _ => report($"{++done}/{Items.Count} items", done, total), cancel);
                if (result.Interrupted || Texts is null) return (result, (FluencyResult?)null);
                var (fluency, interrupted) = MeasureFluency(decoder, report, total, cancel);
                return (interrupted ? result with { Interrupted = true } : result, fluency);
            });
        }

        private (FluencyResult? Fluency, bool Interrupted) MeasureFluency(DecoderModel decoder, Action<string, int, int> report, int total, CancellationToken cancel)
        {
            var scored = 0;
            try
            {
                return (Evaluation.Fluency.Measure(decoder, Tokenizer, Texts!, () => report($"fluency {++scored}/{Texts!.Count} texts", Items.Count + scored, total), cancel), false);
            }
            catch (OperationCanceledException)
            {
                return (null, true);
            }
        }
    }
}
