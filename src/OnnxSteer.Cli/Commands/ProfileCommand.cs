using System.CommandLine;
using OnnxSteer.Cli.Options;
using OnnxSteer.Evaluation;
using OnnxSteer.Pairs;
using OnnxSteer.Profiles;
using OnnxSteer.ProfileRuns;
using OnnxSteer.Recording;
using OnnxSteer.Sites;
using Spectre.Console;

namespace OnnxSteer.Cli.Commands;

/// <summary>Where <c>onnxsteer profile</c> takes its pairs from: a pairs file, or a task's data file.</summary>
internal sealed record PairSource(string? PairsFile, string? Task, string? Data, PairOptions Options)
{
    /// <summary>The file named on the command line (for messages).</summary>
    public string? File => PairsFile ?? Data;
}

/// <summary>What <c>onnxsteer profile</c> was asked.</summary>
internal sealed record ProfileOptions(string Model, PairSource Source, ProfileSettings Settings, string Output, bool Force, string? CheckPairs, bool Quiet);

/// <summary>
/// <c>onnxsteer profile MODEL (--pairs FILE | --task T --data FILE) ... -o profile.json</c>: record last-token
/// activations on contrastive pairs, count activation momenta, select units, write the profile.
/// </summary>
internal sealed class ProfileCommand : CliCommand<ProfileOptions>
{
    private readonly Argument<string> _model = new("MODEL") { Description = "The ONNX model (a .onnx file, or a folder holding model.onnx and tokenizer.json). It is never modified." };
    private readonly Option<string?> _variant = CommonOptions.Variant();
    private readonly Option<string?> _pairs = new("--pairs") { Description = "Contrastive pairs as JSON Lines: {\"prompt\", \"positive\", \"negative\"} per line; answers are appended to the prompt as they are.", HelpName = "FILE" };
    private readonly Option<string?> _task = new("--task") { Description = "Build pairs from benchmark data in the method's templates: boolq, copa, winogrande or svamp (needs --data).", HelpName = "TASK" };
    private readonly Option<string?> _data = new("--data") { Description = "The task's data file (boolq/copa .jsonl, copa .xml, winogrande .json/.jsonl, svamp .json).", HelpName = "FILE" };
    private readonly Option<int?> _limit = new("--limit") { Description = "Use at most this many pairs.", HelpName = "N" };
    private readonly Option<int> _offset = new("--offset") { Description = "Pass over the first M records of the source (keeps profiling and evaluation items apart).", HelpName = "M" };
    private readonly Option<IReadOnlyList<SiteKind>> _sites = SteeringOptions.Sites("Site kinds to select from, comma-separated: attn, mlp, mlp-out. All kinds are recorded, so 'select' can choose others later.", [SiteKind.Mlp]);
    private readonly Option<bool> _jointly = new("--rank-jointly") { Description = "Rank several site kinds in one list (default: top k of each kind)." };
    private readonly Option<string> _method = new("--method") { Description = "austeer (momentum), actdiff (|mean difference|), random (seeded) or caa (mean-difference vectors).", DefaultValueFactory = _ => "austeer" };
    private readonly Option<IReadOnlyList<int>> _k = SteeringOptions.K("Units to keep (per site kind unless --rank-jointly). The defaults of --k, --alpha, --sites, --tie-break and --direction are those measured to steer stories260K visibly and fluently (docs/selection.md#defaults-for-a-first-run); the paper's settings are --sites attn --k 10 --alpha 10 --tie-break released --direction released.", [32]);
    private readonly Option<IReadOnlyList<double>> _alpha = SteeringOptions.Alpha("Steering strength: gamma = alpha*r_pos or -alpha*r_neg. Above 1, a unit with a negative gamma changes sign (a warning says so).", [1]);
    private readonly Option<int> _seed = new("--seed") { Description = "Seed for --method random." };
    private readonly Option<string?> _layers = new("--layers") { Description = "caa only: comma-separated layers to build vectors for (default: the middle layer)." };
    private readonly Option<string> _tieBreak = new("--tie-break") { Description = "austeer: order of units with equal scores. released: lower layer, then lower index (the released code, reproduces the paper); effect: larger |mean/sd| of pos - neg first.", DefaultValueFactory = _ => "effect", HelpName = "released|effect" };
    private readonly Option<string> _direction = new("--direction") { Description = "Sign of gamma. released: + when r_pos >= r_neg (the released code); sign-aware: flipped where the unit's mean activation is negative, so gamma*x moves towards the positive side.", DefaultValueFactory = _ => "sign-aware", HelpName = "released|sign-aware" };
    private readonly Option<string?> _check = new("--check-pairs") { Description = "Held-out pairs (JSON Lines like --pairs, not used for profiling): after selecting, patch a temporary copy and report whether steering raises the log-prob margin of positive over negative answers.", HelpName = "FILE" };
    private readonly Option<int> _batch = new("--batch-size") { Description = "Sequences per run; a pair's two sequences go together. With a KV cache, each pair's shared prompt runs once: B prompts per run, then the answers token by token (docs/profiling.md).", DefaultValueFactory = _ => 8, HelpName = "B" };
    private readonly Option<string?> _shard = new("--shard") { Description = "Process only shard i of n (0-based; pairs j with j mod n = i). 'onnxsteer merge' of all shards equals the unsharded profile. i may be env:VAR, read from an environment variable such as SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX (docs/scale.md).", HelpName = "i/n" };
    private readonly Option<int> _checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Save the exact counts so far to OUTPUT.checkpoint (atomically) after every N pairs (whole batches); 0 = only by time.", HelpName = "N" }.AtLeast(0);
    private readonly Option<double> _checkpointMinutes = new Option<double>("--checkpoint-minutes") { Description = "Also save the checkpoint when this many minutes passed since the last one; 0 = only by pairs.", DefaultValueFactory = _ => 10, HelpName = "M" }.FiniteAtLeastZero();
    private readonly Option<bool> _ignoreMemory = new("--ignore-memory-estimate") { Description = "Go on even when the memory estimate (printed before the weights are read) exceeds the memory available; by default such a run is refused." };
    private readonly Option<bool> _resume = new("--resume") { Description = "Continue from OUTPUT.checkpoint when it exists (same model, pairs, shard and --batch-size); the result is byte-identical to an uninterrupted run. Without a checkpoint, start from the first pair." };
    private readonly Option<int?> _context = new("--context") { Description = "Context length: the longest sequence in tokens; longer prompts lose tokens from the left (the answer is kept). Default: genai_config.json's context_length, else 512.", HelpName = "N" };
    private readonly Option<string?> _tokenizer = CommonOptions.Tokenizer("tokenizer.json or its folder (default: the model's folder).");
    private readonly Option<bool> _skipBad = new("--skip-bad") { Description = "Skip bad records (malformed, missing fields, answer longer than the context) and report how many, instead of stopping at the first." };
    private readonly ProbeOptions _probes = new();
    private readonly Option<bool> _quiet = CommonOptions.Quiet();
    private readonly Option<string> _output = CommonOptions.Output("Where to write profile.json (atomically: an interrupted run leaves no file).");
    private readonly Option<bool> _force = CommonOptions.Force();
    private readonly RuntimeOptions _runtime = new();
    private readonly Option<int?> _limitOld;
    private readonly Option<int> _offsetOld;
    private readonly Option<int?> _contextOld;

    public ProfileCommand() => (_limitOld, _offsetOld, _contextOld) = (OldNames.For(_limit, "--pairs-limit"), OldNames.For(_offset, "--skip"), OldNames.For(_context, "--max-tokens"));

    protected override Command Declare() => _runtime.AddedTo(Define("profile",
        "Record last-token activations at every steering site on contrastive pairs, count activation momenta exactly, " +
        "select the top units (AUSteer) and write profile.json.",
        _model, _variant, _pairs, _task, _data, _limit, _offset, _sites, _jointly, _method, _k, _alpha, _seed, _layers, _tieBreak, _direction, _check, _batch, _shard,
        _context, _tokenizer, _skipBad, _probes.Probes, _probes.Data, _probes.Neutral, _probes.Pooling, _probes.Pca, _checkpointEvery, _checkpointMinutes,
        _resume, _ignoreMemory, _quiet, _output, _force, _limitOld, _offsetOld, _contextOld));

    protected override ProfileOptions Bind(ParseResult parse)
    {
        var output = parse.GetValue(_output)!;
        var settings = BindSelection(parse) with
        {
            Tokenizer = parse.GetValue(_tokenizer),
            BatchSize = parse.GetValue(_batch),
            Shard = parse.GetValue(_shard) is { } s ? ShardSpec.FromArgument(s) : ShardSpec.All,
            MaxTokens = OldNames.Value(parse, _context, _contextOld),
            SkipBad = parse.GetValue(_skipBad),
            Runtime = _runtime.Read(parse),
            Checkpoint = Checkpoint(parse, output),
            IgnoreMemoryEstimate = parse.GetValue(_ignoreMemory),
        };
        settings = _probes.Bind(parse, settings);
        var source = new PairSource(parse.GetValue(_pairs), parse.GetValue(_task), parse.GetValue(_data),
            new PairOptions(OldNames.Value(parse, _offset, _offsetOld), OldNames.Value(parse, _limit, _limitOld), parse.GetValue(_skipBad)));
        return new(CommonOptions.Model(parse.GetValue(_model)!, parse.GetValue(_variant)), source, settings, output, parse.GetValue(_force), parse.GetValue(_check), parse.GetValue(_quiet));
    }

    private ProfileSettings BindSelection(ParseResult parse) => new()
    {
        Method = SelectionText.ParseMethod(parse.GetValue(_method)!),
        Sites = parse.GetValue(_sites)!.ToList(),
        K = SteeringOptions.One(parse, _k)!.Value,
        Alpha = SteeringOptions.One(parse, _alpha)!.Value,
        RankJointly = parse.GetValue(_jointly),
        Seed = parse.GetValue(_seed),
        Layers = parse.GetValue(_layers) is { } l ? SelectionText.ParseLayers(l) : null,
        TieBreak = SelectionRules.ParseTieBreak(parse.GetValue(_tieBreak)!),
        Direction = SelectionRules.ParseDirection(parse.GetValue(_direction)!),
    };

    /// <summary>Checkpoint settings from the options; null when neither pairs nor minutes ask for one and there is no resume.</summary>
    private CheckpointOptions? Checkpoint(ParseResult parse, string output)
    {
        var (everyPairs, minutes, resume) = (parse.GetValue(_checkpointEvery), parse.GetValue(_checkpointMinutes), parse.GetValue(_resume));
        if (everyPairs == 0 && minutes == 0 && !resume) return null;
        return new CheckpointOptions
        {
            Path = CheckpointOptions.PathFor(output),
            EveryPairs = everyPairs,
            Every = minutes > 0 ? TimeSpan.FromMinutes(minutes) : null,
            Resume = resume,
        };
    }

    public override int Run(ProfileOptions o, CommandIo io)
    {
        CheckOutputs(o);
        var pairs = ReadPairs(o.Source);
        var settings = o.Settings with { Runtime = o.Settings.Runtime with { Notice = Notices(o, io) } };
        if (!o.Quiet) foreach (var reason in pairs.SkipReasons) io.Error.WriteLine($"skipped {reason}");
        var profile = CtrlC.Cancels(cancel => ProfilingProgress.Record(io, o.Quiet, o.Model, pairs, settings, cancel));
        Steerer.Save(profile, o.Output);
        if (SelectionText.NegativeFactorWarning(profile) is { } sign) io.Error.WriteLine(sign);
        // The profile is whole on disk: its checkpoint has nothing more to give.
        if (settings.Checkpoint is { } checkpoint) File.Delete(checkpoint.Path);
        Report(o, io, profile, settings);
        io.Out.WriteLine($"wrote {o.Output}");
        return ExitCodes.Success;
    }

    /// <summary>The output, and an earlier run's checkpoint beside it: neither replaced without --resume or --force.</summary>
    private static void CheckOutputs(ProfileOptions o)
    {
        OutputChecks.File(o.Output, o.Force);
        if (o.Settings.Checkpoint is { Resume: false } checkpoint && !o.Force && File.Exists(checkpoint.Path))
            throw new CommandLineException($"{checkpoint.Path}: an earlier run's checkpoint is here: give --resume to continue it, or --force to start over (it is then replaced)", ExitCodes.Usage);
    }

    /// <summary>The pairs; an empty source would give a profile of 0 pairs that every later command refuses: said before the model loads.</summary>
    private static PairSet ReadPairs(PairSource source)
    {
        var pairs = source switch
        {
            ({ } file, null, null, var records) => PairsJsonl.Read(file, records),
            (null, { } t, { } file, var records) => TaskPairs.Build(BenchmarkTasks.Parse(t), file, records),
            (null, { }, null, _) => throw new CommandLineException("profile: --task needs --data FILE", ExitCodes.Usage),
            (null, null, _, _) => throw new CommandLineException("profile: give --pairs FILE, or --task T --data FILE", ExitCodes.Usage),
            _ => throw new CommandLineException("profile: --pairs and --task are alternatives; give one", ExitCodes.Usage),
        };
        if (pairs.Pairs.Count > 0) return pairs;
        var options = source.Options;
        throw new InvalidProfileException($"{source.File}: no pairs to profile" + (pairs.SkippedBad > 0 ? $" ({pairs.SkippedBad} bad records skipped)"
            : options.Skip > 0 || options.Limit is not null ? " after --offset/--limit" : " (the file is empty)"));
    }

    /// <summary>Library notices on stderr; with -q no memory estimate line, but warnings (a device fallback) still show.</summary>
    private static Action<WarningText> Notices(ProfileOptions o, CommandIo io) =>
        o.Quiet ? n => { if (!n.ToString().StartsWith("memory:", StringComparison.Ordinal)) io.Notice(n); } : io.Notice;

    /// <summary>The summary (unless quiet), the selection's warnings and notes, and the held-out direction check.</summary>
    private static void Report(ProfileOptions o, CommandIo io, SteeringProfile profile, ProfileSettings settings)
    {
        if (!o.Quiet)
        {
            io.Out.WriteLine($"profiled {profile.Pairs} pairs{(settings.Shard.Count > 1 ? $" (shard {settings.Shard})" : "")} at {profile.Sites.Count} sites; " +
                             $"{profile.Truncated} sequences truncated from the left, {profile.SkippedBad} bad records skipped");
            if (profile.Pairs > 0) io.Out.Write(SelectionText.Summary(profile));
            if (profile.Probes is { } fitted) io.Out.Write(SelectionText.ProbeSummary(fitted));
        }
        if (profile.Pairs > 0) foreach (var w in SelectionText.Warnings(profile)) io.Notice(w);
        foreach (var note in SelectionArguments.KBeyondUnits(profile, settings.K, settings.Sites, settings.RankJointly)) io.Error.WriteLine(note);
        if (o.CheckPairs is not { } checkPath || profile.Pairs == 0) return;
        var held = PairsJsonl.Read(checkPath, new PairOptions());
        io.Out.WriteLine(ErrorReporter.Render(DirectionCheck.Run(o.Model, profile, held.Pairs, settings.Runtime, settings.Tokenizer).Describe()));
    }
}

/// <summary><c>profile --probes</c> and the options that go with it (DSAS gates for <c>patch --dynamic</c>).</summary>
internal sealed class ProbeOptions
{
    public Option<bool> Probes { get; } = new("--probes")
    {
        Description = "Also fit, per site, a logistic probe of the undesired behaviour for 'patch --dynamic' (DSAS, docs/dynamic.md), " +
                      "in a pass of its own over the probe texts after the counts, and report each probe's accuracy on held-out texts (every 5th of each class). " +
                      "Texts: --probe-data, or the pairs' negative texts against --probe-neutral, or else the pairs' negative against their positive texts. " +
                      "'merge' drops probes (a fit does not add up over shards).",
    };
    public Option<string?> Data { get; } = new("--probe-data") { Description = "With --probes: the probe texts, JSON Lines {\"text\", \"label\": \"undesired\"|\"neutral\"}.", HelpName = "FILE" };
    public Option<string?> Neutral { get; } = new("--probe-neutral") { Description = "With --probes: neutral control texts (JSON Lines {\"text\"}), fitted against the pairs' negative texts (prompt + negative answer).", HelpName = "FILE" };
    public Option<string> Pooling { get; } = new Option<string>("--probe-pooling") { Description = "With --probes: each text's row is the mean of its tokens' activations (DSAS) or its last token's; auto: mean with --probe-data/--probe-neutral, last with the pairs alone (each measured best, docs/dynamic.md).", DefaultValueFactory = _ => "auto", HelpName = "auto|mean|last" }
        .Check(p => p is "auto" or "mean" or "last", "expected auto, mean or last");
    public Option<int?> Pca { get; } = new Option<int?>("--probe-pca") { Description = "With --probes: fit on this many principal components of the standardized activations; folded into the gate's weights (still one MatMul).", HelpName = "N" }.AtLeast(1);

    /// <summary><paramref name="settings"/> with the probe options; refuses probe texts without --probes, or both kinds of texts.</summary>
    public ProfileSettings Bind(ParseResult parse, ProfileSettings settings)
    {
        var (data, neutral) = (parse.GetValue(Data), parse.GetValue(Neutral));
        if (!parse.GetValue(Probes) && (data ?? neutral) is not null)
            throw new CommandLineException("profile: --probe-data and --probe-neutral need --probes", ExitCodes.Usage);
        if (data is not null && neutral is not null)
            throw new CommandLineException("profile: --probe-data and --probe-neutral are alternatives; give one", ExitCodes.Usage);
        var pooling = parse.GetValue(Pooling) switch { "mean" => ProbePooling.Mean, "last" => ProbePooling.LastToken, _ => ProbePooling.Auto };
        return settings with { Probes = parse.GetValue(Probes), ProbeData = data, ProbeNeutral = neutral, ProbePooling = pooling, ProbePca = parse.GetValue(Pca) };
    }
}

/// <summary>A profiling run with its progress on stderr: a bar on a terminal, a line every 10 seconds otherwise, nothing with -q.</summary>
internal static class ProfilingProgress
{
    public static SteeringProfile Record(CommandIo io, bool quiet, string model, PairSet pairs, ProfileSettings settings, CancellationToken cancel) =>
        quiet ? Steerer.Profile(model, pairs, settings, null, cancel)
        : io.ProgressConsole is { } console ? WithBar(console, model, pairs, settings, cancel)
        : Steerer.Profile(model, pairs, settings, new PlainLines(io.Error), cancel);

    private static SteeringProfile WithBar(IAnsiConsole console, string model, PairSet pairs, ProfileSettings settings, CancellationToken cancel)
    {
        SteeringProfile? result = null;
        console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RateColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask("profiling", maxValue: 1);
                result = Steerer.Profile(model, pairs, settings, new SyncProgress<ProfileProgress>(p =>
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

    /// <summary>Pairs per second, as the runner measured it.</summary>
    private sealed class RateColumn : ProgressColumn
    {
        public static double Latest;

        public override Spectre.Console.Rendering.IRenderable Render(Spectre.Console.Rendering.RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text($"{Latest:0.0} pairs/s");
    }

    /// <summary>When stderr is not a terminal: a line at most every 10 seconds, and at the end.</summary>
    private sealed class PlainLines(TextWriter error) : IProgress<ProfileProgress>
    {
        private TimeSpan? _last;

        public void Report(ProfileProgress p)
        {
            if (p.PairsDone < p.PairsTotal && _last is { } last && p.Elapsed - last < TimeSpan.FromSeconds(10)) return;
            _last = p.Elapsed;
            var eta = p.Eta is { } e ? $", ETA {e:hh\\:mm\\:ss}" : "";
            error.WriteLine($"profile: {p.PairsDone}/{p.PairsTotal} pairs ({100.0 * p.PairsDone / Math.Max(1, p.PairsTotal):0.0}%), {p.PairsPerSecond:0.0} pairs/s{eta}");
        }
    }
}
