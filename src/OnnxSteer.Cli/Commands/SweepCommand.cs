using System.CommandLine;
using OnnxSteer.Cli.Options;
using OnnxSteer.Evaluation;
using OnnxSteer.Pairs;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using OnnxSteer.Sweeping;

namespace OnnxSteer.Cli.Commands;

/// <summary>What <c>onnxsteer sweep</c> was asked: the request, the folder its reports go to.</summary>
internal sealed record SweepOptions(SweepRequest Request, string Folder, bool Force, string? Fluency, bool Quiet);

/// <summary>
/// <c>onnxsteer sweep MODEL --profile P --task T --data FILE --k LIST --alpha LIST --val N [--test N]</c>: every
/// (k, alpha) re-selected from the profile's counts and patched in memory, compared on a validation slice; the best one
/// (validation only) evaluated once on a disjoint test slice beside the vanilla model.
/// </summary>
internal sealed class SweepCommand : CliCommand<SweepOptions>
{
    /// <summary>What a sweep writes into its folder (each refused when there, unless --force).</summary>
    private static readonly string[] SweepFiles =
        [SweepReport.JsonFile, SweepReport.HeatmapFile, SweepReport.HeatmapPngFile, SweepReport.ChosenProfileFile, SweepReport.TestItemsFile,
         MethodSweepReport.JsonFile, MethodSweepReport.ParetoPngFile, .. Enum.GetValues<SteeringMethod>().Select(MethodSweepReport.BestProfileFile)];

    private readonly Argument<string> _model = new("MODEL") { Description = "The unsteered ONNX model: a folder holding model.onnx (or the file genai_config.json names) and tokenizer.json, or a .onnx file. It is never modified and no steered copy is written." };
    private readonly Option<string?> _variant = CommonOptions.Variant();
    private readonly Option<string> _profile = new("--profile") { Description = "profile.json from 'onnxsteer profile' (austeer, actdiff or random); units are re-selected from its counts for every setting.", Required = true, HelpName = "FILE" };
    private readonly Option<string> _task = new("--task") { Description = "boolq, copa, winogrande, svamp, or pairs (a pairs JSONL; loglik only).", Required = true, HelpName = "TASK" };
    private readonly Option<string> _data = new("--data") { Description = "The task's data file. When it is the file the profile's pairs came from, the slices are kept off those records.", Required = true, HelpName = "FILE" };
    private readonly Option<IReadOnlyList<int>> _k = SteeringOptions.K("Comma-separated k values (units per site kind).", [1, 2, 4, 8, 16, 32, 64, 100], list: true, helpName: "LIST");
    private readonly Option<IReadOnlyList<double>> _alpha = SteeringOptions.Alpha("Comma-separated alpha values (steering strength; 0 leaves the model unchanged, a negative alpha steers the other way: give it as --alpha=-5,1,5).", [1, 5, 10, 20, 50, 100], list: true, helpName: "LIST");
    private readonly Option<int> _val = new("--val") { Description = "Validation items: every setting is evaluated on them and the best is chosen on them alone.", Required = true, HelpName = "N" };
    private readonly Option<int?> _test = new("--test") { Description = "Test items, right after the validation slice: the chosen setting and the vanilla model are evaluated on them once. Default: the rest of the file (stopping before the profile's records if they come later).", HelpName = "N" };
    private readonly Option<int?> _offset = new("--offset") { Description = "First record of the validation slice. Default: 0, or right after the profile's records when the data is the profile's pairs file and they would overlap. An offset that overlaps them is refused.", HelpName = "M" };
    private readonly Option<string?> _mode = EvalCommand.EvalModeOption("generate: greedy, exact match (as the AUSteer authors). loglik: each choice scored by summed log-probability (acc). Default: generate, or loglik for --task pairs.");
    private readonly Option<IReadOnlyList<SiteKind>> _sites = SteeringOptions.Sites("Site kinds to select from, comma-separated (attn, mlp, mlp-out). Default: the profile's selection.", helpName: "KINDS");
    private readonly Option<string> _folder = new("--output", "-o") { Description = "Folder for sweep.json, heatmap.svg and heatmap.png (accuracy and fluency per setting), chosen-profile.json (loadable by 'onnxsteer patch') and test-items.jsonl.", DefaultValueFactory = _ => "sweep-out", HelpName = "DIR" };
    private readonly Option<string> _folderOld;
    private readonly Option<bool> _force = CommonOptions.Force();
    private readonly Option<double?> _maxDrop = new("--max-fluency-drop") { Description = "Fluency guard for the choice: skip settings whose mean log-likelihood per token on the neutral texts is more than D nats below the vanilla model's (default: report fluency only).", HelpName = "D" };
    private readonly Option<string?> _fluency = new("--fluency") { Description = "Neutral texts for the fluency guard, one per line (default: 20 built-in short stories).", HelpName = "FILE" };
    private readonly Option<string?> _tokenizer = CommonOptions.Tokenizer("tokenizer.json or its folder (default: MODEL's folder).");
    private readonly Option<string?> _methods = new("--methods") { Description = "Compare methods on one protocol: comma-separated austeer, caa, actdiff, random, each re-selected from the profile's statistics (actdiff and caa need its sums) with its own grid (k × alpha for the unit methods, --caa-alpha × --layers for caa), chosen on validation, tested once. Writes methods.json, pareto.png and best-METHOD.json instead of the heat map.", HelpName = "LIST" };
    private readonly Option<IReadOnlyList<double>> _caaAlpha = SteeringOptions.Alpha("With --methods: caa's strengths (the mean difference is added times this), comma-separated. Default: 1,2,4,8.", list: true, helpName: "LIST", name: "--caa-alpha");
    private readonly Option<string?> _layers = new("--layers") { Description = "With --methods: caa's layer sets, comma-separated; a set is a layer, a range a-b or all (e.g. 2,0-4,all). Default: each layer alone, then all.", HelpName = "SETS" };
    private readonly Option<bool> _quiet = CommonOptions.Quiet();
    private readonly RuntimeOptions _runtime = new();

    public SweepCommand() => _folderOld = OldNames.For(_folder, "--out-dir");

    protected override Command Declare() => _runtime.AddedTo(Define("sweep",
        "Tune k and alpha honestly: evaluate every (k, alpha) steered in memory on a validation slice, choose the best on validation only, " +
        "then evaluate it once on a disjoint test slice beside the vanilla model (McNemar). Writes sweep.json, heatmap.svg, heatmap.png and chosen-profile.json.",
        _model, _variant, _profile, _task, _data, _k, _alpha, _val, _test, _offset, _mode, _sites, _folder, _maxDrop, _fluency, _tokenizer, _methods, _caaAlpha, _layers,
        _quiet, _force, _folderOld));

    protected override SweepOptions Bind(ParseResult parse)
    {
        var task = BenchmarkTasks.Parse(parse.GetValue(_task)!);
        var methods = parse.GetValue(_methods) is { } m ? ParseMethods(m) : null;
        if (methods is null && (parse.GetValue(_caaAlpha) is not null || parse.GetValue(_layers) is not null))
            throw new CommandLineException("--caa-alpha and --layers set caa's grid in a sweep over methods: give --methods too");
        var request = new SweepRequest
        {
            ModelPath = CommonOptions.Model(parse.GetValue(_model)!, parse.GetValue(_variant)), ProfilePath = parse.GetValue(_profile)!, Task = task, DataPath = parse.GetValue(_data)!,
            Ks = parse.GetValue(_k)!, Alphas = parse.GetValue(_alpha)!, Sites = parse.GetValue(_sites),
            Validation = parse.GetValue(_val), Test = parse.GetValue(_test), Offset = parse.GetValue(_offset),
            Mode = EvalModes.Resolve(parse.GetValue(_mode), task), MaxFluencyDrop = parse.GetValue(_maxDrop), TokenizerPath = parse.GetValue(_tokenizer),
            Runtime = _runtime.Read(parse), Methods = methods, CaaAlphas = parse.GetValue(_caaAlpha) ?? [1, 2, 4, 8], CaaLayers = parse.GetValue(_layers),
        };
        return new(request, OldNames.Value(parse, _folder, _folderOld)!, parse.GetValue(_force), parse.GetValue(_fluency), parse.GetValue(_quiet));
    }

    private static IReadOnlyList<SteeringMethod> ParseMethods(string text)
    {
        var names = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (names.Length == 0) throw new CommandLineException("--methods: give a comma-separated list, e.g. austeer,caa,actdiff,random");
        return names.Select(n => SteeringMethods.TryParse(n, out var method)
            ? method : throw new CommandLineException($"--methods: unknown method '{n}': expected austeer, caa, actdiff or random")).Distinct().ToList();
    }

    public override int Run(SweepOptions o, CommandIo io)
    {
        OutputChecks.ReportFolder(o.Folder, SweepFiles, o.Force);
        var (texts, textsName) = NeutralTexts.LoadOrDefault(o.Fluency);
        var request = o.Request with { FluencyTexts = texts, FluencySource = textsName, Runtime = o.Request.Runtime with { Notice = io.Notice } };
        var sweep = new SweepRun(request, o.Folder, io, o.Quiet);
        return request.Methods is null ? sweep.Execute(SweepKinds.Grid) : sweep.Execute(SweepKinds.Methods);
    }
}

/// <summary>
/// One kind of sweep as the command runs and reports it: the (k, alpha) grid or the comparison of methods. Both keep
/// their reports current after every setting, print the same way and stop the same way on Ctrl-C; only these differ.
/// </summary>
/// <param name="Run">Runs the sweep, calling the checkpoint with the partial result after every setting.</param>
/// <param name="Write">Writes the reports into a folder; returns the files written.</param>
/// <param name="Text">The summary printed at the end.</param>
/// <param name="SettingLine">The progress line after a setting when no bar is drawn; null: none.</param>
/// <param name="InterruptedLine">What was kept, for the line printed when Ctrl-C cut the sweep.</param>
internal sealed record SweepKind<TResult>(
    Func<SweepRequest, IProgress<SweepProgress>, Action<TResult>, CancellationToken, TResult> Run,
    Func<string, TResult, IReadOnlyList<string>> Write,
    Func<TResult, string> Text,
    Func<TResult, string?> SettingLine,
    Func<string, TResult, string> InterruptedLine) where TResult : SweepFrame;

/// <summary>The two kinds of sweep.</summary>
internal static class SweepKinds
{
    public static readonly SweepKind<SweepResult> Grid = new(
        (request, progress, checkpoint, cancel) => SweepRunner.Run(request, progress, checkpoint, cancel),
        (dir, result) => SweepReport.Write(dir, result, ErrorReporter.Option),
        SweepReport.Text,
        GridLine,
        (dir, r) => $"interrupted: {Path.Combine(dir, SweepReport.JsonFile)} keeps the {r.Settings.Count} finished settings" +
                    (r.Chosen is null ? "; no setting was chosen or tested" : "; the test slice did not finish"));

    public static readonly SweepKind<MethodSweepResult> Methods = new(
        (request, progress, checkpoint, cancel) => MethodSweepRunner.Run(request, progress, checkpoint, cancel),
        (dir, result) => MethodSweepReport.Write(dir, result, ErrorReporter.Option),
        MethodSweepReport.Text,
        MethodLine,
        (dir, _) => $"interrupted: {Path.Combine(dir, MethodSweepReport.JsonFile)} keeps the finished settings; the test slice did not finish");

    private static string GridLine(SweepResult r)
    {
        var s = r.Settings[^1];
        var total = r.Request.Ks.Count * r.Request.Alphas.Count;
        var delta = r.VanillaFluency is { } v ? $", fluency {s.Fluency.MeanLogLikelihood - v.MeanLogLikelihood:+0.0000;-0.0000} vs vanilla" : "";
        return $"sweep: {r.Settings.Count}/{total} {s.Setting}: val acc {s.Validation.Accuracy:0.0000} ({s.Validation.Correct}/{s.Validation.Items.Count}){delta}";
    }

    private static string? MethodLine(MethodSweepResult r) => r.Methods is [.., { Settings: [.., var s] }]
        ? $"sweep: {s.Setting}: val {s.Validation.Correct}/{s.Validation.Items.Count}, {s.Units} scalars" +
          (r.VanillaFluency is { } v ? $", fluency cost {ParetoFront.Cost(s, v):+0.0000;-0.0000;0}" : "")
        : null;
}

/// <summary>A sweep run by the command: progress on stderr, reports kept current, the summary at the end, exit 130 when cut.</summary>
internal sealed record SweepRun(SweepRequest Request, string Folder, CommandIo Io, bool Quiet)
{
    public int Execute<TResult>(SweepKind<TResult> kind) where TResult : SweepFrame
    {
        // Keep the reports current after every setting: Ctrl-C or a crash keeps what finished.
        void Checkpoint(TResult partial)
        {
            kind.Write(Folder, partial);
            if (!Quiet && Io.ProgressConsole is null && kind.SettingLine(partial) is { } line) Io.Error.WriteLine(line);
        }
        var result = CtrlC.Cancels(cancel => TerminalProgress.Run(Io, Quiet, "sweep", report =>
            kind.Run(Request, new SyncProgress<SweepProgress>(p => report(p.Stage, p.Done, p.Total)), Checkpoint, cancel)));
        if (!Quiet) foreach (var note in result.Slices.Notes) Io.Notice(note);
        var written = kind.Write(Folder, result);
        Io.Out.Write(kind.Text(result));
        Io.Out.WriteLine($"wrote {string.Join(", ", written)}");
        if (!result.Interrupted) return ExitCodes.Success;
        Io.Error.WriteLine(kind.InterruptedLine(Folder, result));
        return ExitCodes.Interrupted;
    }
}
