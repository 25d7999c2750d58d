using System.CommandLine;
using OnnxSteer.Evaluation;
using OnnxSteer.Pairs;
using OnnxSteer.Profiles;
using OnnxSteer.ProfileRuns;
using OnnxSteer.Recording;
using Spectre.Console;

namespace OnnxSteer.Cli.Commands;

/// <summary>
/// <c>onnxsteer profile MODEL (--pairs FILE | --task T --data FILE) ... -o profile.json</c>: record last-token
/// activations on contrastive pairs, count activation momenta, select units, write the profile.
/// </summary>
public sealed class ProfileCommand : ICliCommand
{
    public Command Build()
    {
        var model = new Argument<string>("MODEL") { Description = "The ONNX model (a .onnx file, or a folder holding model.onnx and tokenizer.json). It is never modified." };
        var pairs = new Option<string?>("--pairs") { Description = "Contrastive pairs as JSON Lines: {\"prompt\", \"positive\", \"negative\"} per line; answers are appended to the prompt as they are.", HelpName = "FILE" };
        var task = new Option<string?>("--task") { Description = "Build pairs from benchmark data in the method's templates: boolq, copa, winogrande or svamp (needs --data).", HelpName = "TASK" };
        var data = new Option<string?>("--data") { Description = "The task's data file (boolq/copa .jsonl, copa .xml, winogrande .json/.jsonl, svamp .json).", HelpName = "FILE" };
        var limit = new Option<int?>("--limit") { Description = "Use at most this many pairs.", HelpName = "N" };
        var limitOld = OldNames.For(limit, "--pairs-limit");
        var skip = new Option<int>("--offset") { Description = "Pass over the first M records of the source (keeps profiling and evaluation items apart).", HelpName = "M" };
        var skipOld = OldNames.For(skip, "--skip");
        var sites = new Option<string>("--sites") { Description = "Site kinds to select from, comma-separated: attn, mlp, mlp-out. All kinds are recorded, so 'select' can choose others later.", DefaultValueFactory = _ => "mlp" };
        var jointly = new Option<bool>("--rank-jointly") { Description = "Rank several site kinds in one list (default: top k of each kind)." };
        var method = new Option<string>("--method") { Description = "austeer (momentum), actdiff (|mean difference|), random (seeded) or caa (mean-difference vectors).", DefaultValueFactory = _ => "austeer" };
        var k = new Option<int>("--k") { Description = "Units to keep (per site kind unless --rank-jointly). The defaults of --k, --alpha, --sites, --tie-break and --direction are those measured to steer stories260K visibly and fluently (docs/selection.md#defaults-for-a-first-run); the paper's settings are --sites attn --k 10 --alpha 10 --tie-break released --direction released.", DefaultValueFactory = _ => 32 };
        var alpha = new Option<double>("--alpha") { Description = "Steering strength: gamma = alpha*r_pos or -alpha*r_neg. Above 1, a unit with a negative gamma changes sign (a warning says so).", DefaultValueFactory = _ => 1 };
        var seed = new Option<int>("--seed") { Description = "Seed for --method random." };
        var layers = new Option<string?>("--layers") { Description = "caa only: comma-separated layers to build vectors for (default: the middle layer)." };
        var tieBreak = new Option<string>("--tie-break") { Description = "austeer: order of units with equal scores. released: lower layer, then lower index (the released code, reproduces the paper); effect: larger |mean/sd| of pos - neg first.", DefaultValueFactory = _ => "effect", HelpName = "released|effect" };
        var direction = new Option<string>("--direction") { Description = "Sign of gamma. released: + when r_pos >= r_neg (the released code); sign-aware: flipped where the unit's mean activation is negative, so gamma*x moves towards the positive side.", DefaultValueFactory = _ => "sign-aware", HelpName = "released|sign-aware" };
        var check = new Option<string?>("--check-pairs") { Description = "Held-out pairs (JSON Lines like --pairs, not used for profiling): after selecting, patch a temporary copy and report whether steering raises the log-prob margin of positive over negative answers.", HelpName = "FILE" };
        var batch = new Option<int>("--batch-size") { Description = "Sequences per run; a pair's two sequences go together.", DefaultValueFactory = _ => 8, HelpName = "B" };
        var shard = new Option<string?>("--shard") { Description = "Process only shard i of n (0-based; pairs j with j mod n = i). 'onnxsteer merge' of all shards equals the unsharded profile. i may be env:VAR, read from an environment variable such as SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX (docs/scale.md).", HelpName = "i/n" };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Save the exact counts so far to OUTPUT.checkpoint (atomically) after every N pairs (whole batches); 0 = only by time.", HelpName = "N" };
        var checkpointMinutes = new Option<double>("--checkpoint-minutes") { Description = "Also save the checkpoint when this many minutes passed since the last one; 0 = only by pairs.", DefaultValueFactory = _ => 10, HelpName = "M" };
        var ignoreMemory = new Option<bool>("--ignore-memory-estimate") { Description = "Go on even when the memory estimate (printed before the weights are read) exceeds the memory available; by default such a run is refused." };
        var resume = new Option<bool>("--resume") { Description = "Continue from OUTPUT.checkpoint when it exists (same model, pairs, shard and --batch-size); the result is byte-identical to an uninterrupted run. Without a checkpoint, start from the first pair." };
        var maxTokens = new Option<int?>("--context") { Description = "Context length: the longest sequence in tokens; longer prompts lose tokens from the left (the answer is kept). Default: genai_config.json's context_length, else 512.", HelpName = "N" };
        var maxTokensOld = OldNames.For(maxTokens, "--max-tokens");
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json or its folder (default: the model's folder).", HelpName = "PATH" };
        var skipBad = new Option<bool>("--skip-bad") { Description = "Skip bad records (malformed, missing fields, answer longer than the context) and report how many, instead of stopping at the first." };
        var probes = new Option<bool>("--probes")
        {
            Description = "Also fit, per site, a logistic probe of the undesired behaviour for 'patch --dynamic' (DSAS, docs/dynamic.md), " +
                          "in a pass of its own over the probe texts after the counts, and report each probe's accuracy on held-out texts (every 5th of each class). " +
                          "Texts: --probe-data, or the pairs' negative texts against --probe-neutral, or else the pairs' negative against their positive texts. " +
                          "'merge' drops probes (a fit does not add up over shards).",
        };
        var probeData = new Option<string?>("--probe-data") { Description = "With --probes: the probe texts, JSON Lines {\"text\", \"label\": \"undesired\"|\"neutral\"}.", HelpName = "FILE" };
        var probeNeutral = new Option<string?>("--probe-neutral") { Description = "With --probes: neutral control texts (JSON Lines {\"text\"}), fitted against the pairs' negative texts (prompt + negative answer).", HelpName = "FILE" };
        var probePooling = new Option<string>("--probe-pooling") { Description = "With --probes: each text's row is the mean of its tokens' activations (DSAS) or its last token's; auto: mean with --probe-data/--probe-neutral, last with the pairs alone (each measured best, docs/dynamic.md).", DefaultValueFactory = _ => "auto", HelpName = "auto|mean|last" };
        var probePca = new Option<int?>("--probe-pca") { Description = "With --probes: fit on this many principal components of the standardized activations; folded into the gate's weights (still one MatMul).", HelpName = "N" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress output." };
        var output = new Option<string>("--output", "-o") { Description = "Where to write profile.json (atomically: an interrupted run leaves no file).", Required = true };
        var runtime = new RuntimeOptions();
        var force = OutputChecks.ForceOption();

        var command = new Command("profile",
            "Record last-token activations at every steering site on contrastive pairs, count activation momenta exactly, " +
            "select the top units (AUSteer) and write profile.json.");
        command.Arguments.Add(model);
        foreach (var o in new Option[] { pairs, task, data, limit, skip, sites, jointly, method, k, alpha, seed, layers, tieBreak, direction, check, batch, shard, maxTokens, tokenizer, skipBad, probes, probeData, probeNeutral, probePooling, probePca, checkpointEvery, checkpointMinutes, resume, ignoreMemory, quiet, output, force, limitOld, skipOld, maxTokensOld })
            command.Options.Add(o);
        runtime.AddTo(command);
        command.SetAction(parse => CommandRunner.Run(parse, () =>
        {
            // Usage errors first, before any file is read.
            var shardSpec = parse.GetValue(shard) is { } s ? ShardSpec.FromArgument(s) : ShardSpec.All;
            var outPath = parse.GetValue(output)!;
            var checkpoint = CheckpointOptionsFrom(parse.GetValue(checkpointEvery), parse.GetValue(checkpointMinutes), parse.GetValue(resume), outPath);
            var pooling = parse.GetValue(probePooling) switch
            {
                "auto" => ProbePooling.Auto,
                "mean" => ProbePooling.Mean,
                "last" => ProbePooling.LastToken,
                var other => throw new CommandLineException($"--probe-pooling {other}: expected auto, mean or last", ExitCodes.Usage),
            };
            if (parse.GetValue(probePca) is < 1) throw new CommandLineException($"--probe-pca {parse.GetValue(probePca)}: must be at least 1", ExitCodes.Usage);
            if (!parse.GetValue(probes) && (parse.GetValue(probeData) ?? parse.GetValue(probeNeutral)) is not null)
                throw new CommandLineException("profile: --probe-data and --probe-neutral need --probes", ExitCodes.Usage);
            if (parse.GetValue(probeData) is not null && parse.GetValue(probeNeutral) is not null)
                throw new CommandLineException("profile: --probe-data and --probe-neutral are alternatives; give one", ExitCodes.Usage);
            var methodValue = SelectionText.ParseMethod(parse.GetValue(method)!);
            var kinds = SelectionText.ParseSites(parse.GetValue(sites)!);
            var layerList = parse.GetValue(layers) is { } l ? SelectionText.ParseLayers(l) : null;
            var tieBreakRule = SelectionRules.ParseTieBreak(parse.GetValue(tieBreak)!);
            var directionRule = SelectionRules.ParseDirection(parse.GetValue(direction)!);
            SelectionArguments.Check(methodValue == SteeringMethod.Caa ? null : parse.GetValue(k), parse.GetValue(alpha));
            OutputChecks.File(outPath, parse.GetValue(force));
            if (checkpoint is not null && !checkpoint.Resume && !parse.GetValue(force) && File.Exists(checkpoint.Path))
                throw new CommandLineException($"{checkpoint.Path}: an earlier run's checkpoint is here: give --resume to continue it, or --force to start over (it is then replaced)", ExitCodes.Usage);
            var (offsetValue, limitValue) = (OldNames.Value(parse, skip, skipOld), OldNames.Value(parse, limit, limitOld));
            var options = new PairOptions(offsetValue, limitValue, parse.GetValue(skipBad));
            var pairSet = (parse.GetValue(pairs), parse.GetValue(task), parse.GetValue(data)) switch
            {
                ({ } file, null, null) => PairsJsonl.Read(file, options),
                (null, { } t, { } file) => TaskPairs.Build(TaskTemplates.ParseTask(t), file, options),
                (null, { }, null) => throw new CommandLineException("profile: --task needs --data FILE", ExitCodes.Usage),
                (null, null, _) => throw new CommandLineException("profile: give --pairs FILE, or --task T --data FILE", ExitCodes.Usage),
                _ => throw new CommandLineException("profile: --pairs and --task are alternatives; give one", ExitCodes.Usage),
            };
            // An empty source would give a profile of 0 pairs that every later command refuses; say so before the model loads.
            if (pairSet.Pairs.Count == 0)
                throw new InvalidProfileException($"{parse.GetValue(pairs) ?? parse.GetValue(data)}: no pairs to profile" +
                    (pairSet.SkippedBad > 0 ? $" ({pairSet.SkippedBad} bad records skipped)" : offsetValue > 0 || limitValue is not null ? " after --offset/--limit" : " (the file is empty)"));
            var modelPath = parse.GetValue(model)!;
            var settings = new ProfileSettings
            {
                Tokenizer = parse.GetValue(tokenizer),
                Method = methodValue,
                Sites = kinds,
                K = parse.GetValue(k),
                Alpha = parse.GetValue(alpha),
                RankJointly = parse.GetValue(jointly),
                Seed = parse.GetValue(seed),
                Layers = layerList,
                TieBreak = tieBreakRule,
                Direction = directionRule,
                BatchSize = parse.GetValue(batch),
                Shard = shardSpec,
                MaxTokens = OldNames.Value(parse, maxTokens, maxTokensOld),
                SkipBad = parse.GetValue(skipBad),
                Probes = parse.GetValue(probes),
                ProbeData = parse.GetValue(probeData),
                ProbeNeutral = parse.GetValue(probeNeutral),
                ProbePooling = pooling,
                ProbePca = parse.GetValue(probePca),
                // -q: no progress and no memory estimate line; warnings (a device fallback) still show.
                Runtime = parse.GetValue(quiet) ? runtime.Read(parse) with { Notice = n => { if (!n.ToString().StartsWith("memory:", StringComparison.Ordinal)) ErrorReporter.Notice(n); } } : runtime.Read(parse),
                Checkpoint = checkpoint,
                IgnoreMemoryEstimate = parse.GetValue(ignoreMemory),
            };
            var isQuiet = parse.GetValue(quiet);
            foreach (var reason in pairSet.SkipReasons) if (!isQuiet) Console.Error.WriteLine($"skipped {reason}");

            using var cancel = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
            Console.CancelKeyPress += onCancel;
            SteeringProfile profile;
            try
            {
                profile = isQuiet ? Steerer.Profile(modelPath, pairSet, settings, null, cancel.Token)
                    : !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive ? WithProgressBar(modelPath, pairSet, settings, cancel.Token)
                    : Steerer.Profile(modelPath, pairSet, settings, new PlainProgress(), cancel.Token);
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }

            Steerer.Save(profile, outPath);
            if (SignRule.NegativeFactorWarning(profile) is { } sign) Console.Error.WriteLine(sign);
            // The profile is whole on disk: its checkpoint has nothing more to give.
            if (checkpoint is not null) File.Delete(checkpoint.Path);
            if (!isQuiet)
            {
                Console.WriteLine($"profiled {profile.Pairs} pairs{(settings.Shard.Count > 1 ? $" (shard {settings.Shard})" : "")} at {profile.Sites.Count} sites; " +
                                  $"{profile.Truncated} sequences truncated from the left, {profile.SkippedBad} bad records skipped");
                if (profile.Pairs > 0) Console.Write(SelectionText.Summary(profile));
                if (profile.Probes is { } fitted) Console.Write(SelectionText.ProbeSummary(fitted));
            }
            if (profile.Pairs > 0) foreach (var w in SelectionText.Warnings(profile)) ErrorReporter.Notice(w);
            foreach (var note in SelectionArguments.KBeyondUnits(profile, settings.K, kinds, settings.RankJointly)) Console.Error.WriteLine(note);
            if (parse.GetValue(check) is { } checkPath && profile.Pairs > 0)
            {
                var held = PairsJsonl.Read(checkPath, new PairOptions());
                Console.WriteLine(ErrorReporter.Render(DirectionCheck.Run(modelPath, profile, held.Pairs, settings.Runtime, settings.Tokenizer).Describe()));
            }
            Console.WriteLine($"wrote {outPath}");
            return 0;
        }));
        return command;
    }

    /// <summary>Checkpoint settings from the options; null when neither pairs nor minutes ask for one and there is no resume.</summary>
    private static CheckpointOptions? CheckpointOptionsFrom(int everyPairs, double minutes, bool resume, string output)
    {
        if (everyPairs < 0) throw new CommandLineException($"--checkpoint-every {everyPairs}: must be ≥ 0", ExitCodes.Usage);
        if (!double.IsFinite(minutes) || minutes < 0) throw new CommandLineException($"--checkpoint-minutes {minutes.ToString(System.Globalization.CultureInfo.InvariantCulture)}: must be a finite number ≥ 0", ExitCodes.Usage);
        if (everyPairs == 0 && minutes == 0 && !resume) return null;
        return new CheckpointOptions
        {
            Path = CheckpointOptions.PathFor(output),
            EveryPairs = everyPairs,
            Every = minutes > 0 ? TimeSpan.FromMinutes(minutes) : null,
            Resume = resume,
        };
    }

    private static SteeringProfile WithProgressBar(string model, PairSet pairs, ProfileSettings settings, CancellationToken cancel)
    {
        SteeringProfile? result = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RateColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask("profiling", maxValue: 1);
                result = Steerer.Profile(model, pairs, settings, new Progress(p =>
                {
                    bar.MaxValue = Math.Max(1, p.PairsTotal);
                    bar.Value = p.PairsDone;
                    bar.Description = $"profiling {p.PairsDone}/{p.PairsTotal} pairs";
                    RateColumn.Latest = p.PairsPerSecond;
                }), cancel);
                bar.Value = bar.MaxValue;
            });
        return result!;
    }

    /// <summary>Synchronous progress (System.Progress posts to a thread pool; these must be seen in order).</summary>
    private sealed class Progress(Action<ProfileProgress> report) : IProgress<ProfileProgress>
    {
        public void Report(ProfileProgress value) => report(value);
    }

    /// <summary>Pairs per second, as the runner measured it.</summary>
    private sealed class RateColumn : ProgressColumn
    {
        public static double Latest;

        public override Spectre.Console.Rendering.IRenderable Render(Spectre.Console.Rendering.RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text($"{Latest:0.0} pairs/s");
    }

    /// <summary>When output is not a terminal: a line on stderr at most every 10 seconds, and at the end.</summary>
    private sealed class PlainProgress : IProgress<ProfileProgress>
    {
        private TimeSpan? _last;

        public void Report(ProfileProgress p)
        {
            if (p.PairsDone < p.PairsTotal && _last is { } last && p.Elapsed - last < TimeSpan.FromSeconds(10)) return;
            _last = p.Elapsed;
            var eta = p.Eta is { } e ? $", ETA {e:hh\\:mm\\:ss}" : "";
            Console.Error.WriteLine($"profile: {p.PairsDone}/{p.PairsTotal} pairs ({100.0 * p.PairsDone / Math.Max(1, p.PairsTotal):0.0}%), {p.PairsPerSecond:0.0} pairs/s{eta}");
        }
    }
}
