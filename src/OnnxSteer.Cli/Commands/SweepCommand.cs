using System.CommandLine;
using OnnxSteer.Evaluation;
using OnnxSteer.Pairs;
using OnnxSteer.Profiles;
using OnnxSteer.Sweeping;
using Spectre.Console;

namespace OnnxSteer.Cli.Commands;

/// <summary>
/// <c>onnxsteer sweep MODEL --profile P --task T --data FILE --k LIST --alpha LIST --val N [--test N]</c>: every
/// (k, alpha) re-selected from the profile's counts and patched in memory, compared on a validation slice; the best one
/// (validation only) evaluated once on a disjoint test slice beside the vanilla model.
/// </summary>
public sealed class SweepCommand : ICliCommand
{
    /// <summary>What a sweep writes into its folder (each refused when there, unless --force).</summary>
    private static readonly string[] SweepFiles =
        [SweepReport.JsonFile, SweepReport.HeatmapFile, SweepReport.HeatmapPngFile, SweepReport.ChosenProfileFile, SweepReport.TestItemsFile,
         MethodSweepReport.JsonFile, MethodSweepReport.ParetoPngFile, .. Enum.GetValues<SteeringMethod>().Select(MethodSweepReport.BestProfileFile)];

    public Command Build()
    {
        var model = new Argument<string>("MODEL") { Description = "The unsteered ONNX model: a folder holding model.onnx (or the file genai_config.json names) and tokenizer.json, or a .onnx file. It is never modified and no steered copy is written." };
        var profile = new Option<string>("--profile") { Description = "profile.json from 'onnxsteer profile' (austeer, actdiff or random); units are re-selected from its counts for every setting.", Required = true, HelpName = "FILE" };
        var task = new Option<string>("--task") { Description = "boolq, copa, winogrande, svamp, or pairs (a pairs JSONL; loglik only).", Required = true, HelpName = "TASK" };
        var data = new Option<string>("--data") { Description = "The task's data file. When it is the file the profile's pairs came from, the slices are kept off those records.", Required = true, HelpName = "FILE" };
        var k = new Option<string>("--k") { Description = "Comma-separated k values (units per site kind).", DefaultValueFactory = _ => "1,2,4,8,16,32,64,100", HelpName = "LIST" };
        var alpha = new Option<string>("--alpha") { Description = "Comma-separated alpha values (steering strength; 0 leaves the model unchanged, a negative alpha steers the other way: give it as --alpha=-5,1,5).", DefaultValueFactory = _ => "1,5,10,20,50,100", HelpName = "LIST" };
        var val = new Option<int>("--val") { Description = "Validation items: every setting is evaluated on them and the best is chosen on them alone.", Required = true, HelpName = "N" };
        var test = new Option<int?>("--test") { Description = "Test items, right after the validation slice: the chosen setting and the vanilla model are evaluated on them once. Default: the rest of the file (stopping before the profile's records if they come later).", HelpName = "N" };
        var offset = new Option<int?>("--offset") { Description = "First record of the validation slice. Default: 0, or right after the profile's records when the data is the profile's pairs file and they would overlap. An offset that overlaps them is refused.", HelpName = "M" };
        var mode = new Option<string?>("--mode") { Description = "generate: greedy, exact match (as the AUSteer authors). loglik: each choice scored by summed log-probability (acc). Default: generate, or loglik for --task pairs.", HelpName = "generate|loglik" };
        mode.AcceptOnlyFromAmong("generate", "loglik");
        var sites = new Option<string?>("--sites") { Description = "Site kinds to select from, comma-separated (attn, mlp, mlp-out). Default: the profile's selection.", HelpName = "KINDS" };
        var outDir = new Option<string>("--output", "-o") { Description = "Folder for sweep.json, heatmap.svg and heatmap.png (accuracy and fluency per setting), chosen-profile.json (loadable by 'onnxsteer patch') and test-items.jsonl.", DefaultValueFactory = _ => "sweep-out", HelpName = "DIR" };
        var outDirOld = OldNames.For(outDir, "--out-dir");
        var force = OutputChecks.ForceOption();
        var maxDrop = new Option<double?>("--max-fluency-drop") { Description = "Fluency guard for the choice: skip settings whose mean log-likelihood per token on the neutral texts is more than D nats below the vanilla model's (default: report fluency only).", HelpName = "D" };
        var fluency = new Option<string?>("--fluency") { Description = "Neutral texts for the fluency guard, one per line (default: 20 built-in short stories).", HelpName = "FILE" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json or its folder (default: MODEL's folder).", HelpName = "PATH" };
        var methods = new Option<string?>("--methods") { Description = "Compare methods on one protocol: comma-separated austeer, caa, actdiff, random, each re-selected from the profile's statistics (actdiff and caa need its sums) with its own grid (k × alpha for the unit methods, --caa-alpha × --layers for caa), chosen on validation, tested once. Writes methods.json, pareto.png and best-METHOD.json instead of the heat map.", HelpName = "LIST" };
        var caaAlpha = new Option<string?>("--caa-alpha") { Description = "With --methods: caa's strengths (the mean difference is added times this), comma-separated. Default: 1,2,4,8.", HelpName = "LIST" };
        var layers = new Option<string?>("--layers") { Description = "With --methods: caa's layer sets, comma-separated; a set is a layer, a range a-b or all (e.g. 2,0-4,all). Default: each layer alone, then all.", HelpName = "SETS" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress output." };
        var runtime = new RuntimeOptions();

        var command = new Command("sweep",
            "Tune k and alpha honestly: evaluate every (k, alpha) steered in memory on a validation slice, choose the best on validation only, " +
            "then evaluate it once on a disjoint test slice beside the vanilla model (McNemar). Writes sweep.json, heatmap.svg, heatmap.png and chosen-profile.json.");
        command.Arguments.Add(model);
        foreach (var o in new Option[] { profile, task, data, k, alpha, val, test, offset, mode, sites, outDir, maxDrop, fluency, tokenizer, methods, caaAlpha, layers, quiet, force, outDirOld })
            command.Options.Add(o);
        runtime.AddTo(command);
        command.SetAction(parse => CommandRunner.Run(parse, _ =>
        {
            var taskValue = TaskTemplates.ParseTask(parse.GetValue(task)!);
            var dir = OldNames.Value(parse, outDir, outDirOld)!;
            OutputChecks.ReportFolder(dir, SweepFiles, parse.GetValue(force));
            var (texts, textsName) = NeutralTexts.LoadOrDefault(parse.GetValue(fluency));
            var request = new SweepRequest
            {
                ModelPath = parse.GetValue(model)!,
                ProfilePath = parse.GetValue(profile)!,
                Task = taskValue,
                DataPath = parse.GetValue(data)!,
                Ks = SweepGrid.ParseK(parse.GetValue(k)!),
                Alphas = SweepGrid.ParseAlpha(parse.GetValue(alpha)!),
                Sites = parse.GetValue(sites) is { } s ? SelectionText.ParseSites(s) : null,
                Validation = parse.GetValue(val),
                Test = parse.GetValue(test),
                Offset = parse.GetValue(offset),
                Mode = EvalModes.Resolve(parse.GetValue(mode), taskValue),
                MaxFluencyDrop = parse.GetValue(maxDrop),
                FluencyTexts = texts,
                FluencySource = textsName,
                TokenizerPath = parse.GetValue(tokenizer),
                Runtime = runtime.Read(parse),
                Methods = parse.GetValue(methods) is { } m ? ParseMethods(m) : null,
                CaaAlphas = SweepGrid.ParseAlpha(parse.GetValue(caaAlpha) ?? "1,2,4,8"),
                CaaLayers = parse.GetValue(layers),
            };
            var isQuiet = parse.GetValue(quiet);
            if (request.Methods is not null) return RunMethods(request, dir, isQuiet);
            if (parse.GetValue(caaAlpha) is not null || parse.GetValue(layers) is not null)
                throw new CommandLineException("--caa-alpha and --layers set caa's grid in a sweep over methods: give --methods too");

            // Keep sweep.json and the heat map current after every setting: Ctrl-C or a crash keeps what finished.
            void Checkpoint(SweepResult partial)
            {
                SweepReport.Write(dir, partial, ErrorReporter.Option);
                if (!isQuiet && !(CommandIo.Process().ProgressConsole is not null)) Console.Error.WriteLine(SettingLine(partial));
            }
            var result = UntilCtrlC(cancel => TerminalProgress.Run(CommandIo.Process(), isQuiet, "sweep", report =>
                SweepRunner.Run(request, new SyncProgress<SweepProgress>(p => report(p.Stage, p.Done, p.Total)), Checkpoint, cancel)));

            if (!isQuiet) foreach (var note in result.Slices.Notes) ErrorReporter.Notice(note);
            var written = SweepReport.Write(dir, result, ErrorReporter.Option);
            Console.Write(SweepReport.Text(result));
            Console.WriteLine($"wrote {string.Join(", ", written)}");
            if (result.Interrupted)
            {
                Console.Error.WriteLine($"interrupted: {Path.Combine(dir, SweepReport.JsonFile)} keeps the {result.Settings.Count} finished settings" +
                                        (result.Chosen is null ? "; no setting was chosen or tested" : "; the test slice did not finish"));
                return ExitCodes.Interrupted;
            }
            return 0;
        }));
        return command;
    }

    /// <summary>Runs <paramref name="work"/> with a token that Ctrl-C cancels (the work stops at the next item and returns what finished).</summary>
    private static T UntilCtrlC<T>(Func<CancellationToken, T> work)
    {
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try { return work(cancel.Token); }
        finally { Console.CancelKeyPress -= onCancel; }
    }

    private static IReadOnlyList<SteeringMethod> ParseMethods(string text)
    {
        var names = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (names.Length == 0) throw new CommandLineException("--methods: give a comma-separated list, e.g. austeer,caa,actdiff,random");
        return names.Select(n => SteeringMethods.TryParse(n, out var method)
            ? method : throw new CommandLineException($"--methods: unknown method '{n}': expected austeer, caa, actdiff or random")).Distinct().ToList();
    }

    private static int RunMethods(SweepRequest request, string dir, bool isQuiet)
    {
        // Keep methods.json and the front current after every setting: Ctrl-C or a crash keeps what finished.
        void Checkpoint(MethodSweepResult partial)
        {
            MethodSweepReport.Write(dir, partial, ErrorReporter.Option);
            if (!isQuiet && !(CommandIo.Process().ProgressConsole is not null) && partial.Methods is [.., { Settings: [.., var s] }])
                Console.Error.WriteLine($"sweep: {s.Setting}: val {s.Validation.Correct}/{s.Validation.Items.Count}, {s.Units} scalars" +
                    (partial.VanillaFluency is { } v ? $", fluency cost {ParetoFront.Cost(s, v):+0.0000;-0.0000;0}" : ""));
        }
        var result = UntilCtrlC(cancel => TerminalProgress.Run(CommandIo.Process(), isQuiet, "sweep", report =>
            MethodSweepRunner.Run(request, new SyncProgress<SweepProgress>(p => report(p.Stage, p.Done, p.Total)), Checkpoint, cancel)));

        if (!isQuiet) foreach (var note in result.Slices.Notes) ErrorReporter.Notice(note);
        var written = MethodSweepReport.Write(dir, result, ErrorReporter.Option);
        Console.Write(MethodSweepReport.Text(result));
        Console.WriteLine($"wrote {string.Join(", ", written)}");
        if (result.Interrupted)
        {
            Console.Error.WriteLine($"interrupted: {Path.Combine(dir, MethodSweepReport.JsonFile)} keeps the finished settings; the test slice did not finish");
            return ExitCodes.Interrupted;
        }
        return 0;
    }

    private static string SettingLine(SweepResult r)
    {
        var s = r.Settings[^1];
        var total = r.Request.Ks.Count * r.Request.Alphas.Count;
        var delta = r.VanillaFluency is { } v ? $", fluency {s.Fluency.MeanLogLikelihood - v.MeanLogLikelihood:+0.0000;-0.0000} vs vanilla" : "";
        return $"sweep: {r.Settings.Count}/{total} {s.Setting}: val acc {s.Validation.Accuracy:0.0000} ({s.Validation.Correct}/{s.Validation.Items.Count}){delta}";
    }
}
