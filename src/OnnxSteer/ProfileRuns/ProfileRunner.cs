using System.Diagnostics;
using System.Text.Json.Nodes;
using OnnxSteer.ModelFiles;
using OnnxSteer.Pairs;
using OnnxSteer.Profiles;
using OnnxSteer.Recording;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;
using OnnxSteer.Tokenizers;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.ProfileRuns;

/// <summary>What to profile (the model, the pairs) and how (<see cref="ProfileSettings"/>).</summary>
internal sealed record ProfileRequest
{
    /// <summary>The model file (or folder holding model.onnx).</summary>
    public required string ModelPath { get; init; }
    /// <summary>The pairs (after skip/limit/bad-record handling).</summary>
    public required PairSet Pairs { get; init; }
    /// <summary>How to record and select.</summary>
    public ProfileSettings Settings { get; init; } = new();
}

/// <summary>How far a profiling run is, reported after each batch (a front end renders it as a bar or a line).</summary>
/// <param name="PairsDone">Pairs recorded so far (with a resumed checkpoint's).</param>
/// <param name="PairsTotal">Pairs the run records in all.</param>
/// <param name="Elapsed">Time since the run started.</param>
public readonly record struct ProfileProgress(int PairsDone, int PairsTotal, TimeSpan Elapsed)
{
    /// <summary>Pairs per second so far.</summary>
    public double PairsPerSecond => Elapsed.TotalSeconds > 0 ? PairsDone / Elapsed.TotalSeconds : 0;

    /// <summary>Estimated time left at the current rate, or null before the first batch.</summary>
    public TimeSpan? Eta => PairsDone > 0 && PairsPerSecond > 0 ? TimeSpan.FromSeconds((PairsTotal - PairsDone) / PairsPerSecond) : null;
}

/// <summary>
/// Profiling end to end: finds the sites, tokenizes and fits the pairs of this shard, records last-token activations
/// in batches, counts momenta exactly and selects units. Returns the profile; the caller saves it (atomically), so an
/// interruption leaves nothing behind.
/// </summary>
internal static class ProfileRunner
{
    /// <summary>Fallback longest sequence: the AUSteer authors' limit.</summary>
    public const int DefaultMaxTokens = 512;

    /// <summary>Runs the profile. Cancellation is checked between batches.</summary>
    public static SteeringProfile Run(ProfileRequest request, IProgress<ProfileProgress>? progress = null, CancellationToken cancel = default)
    {
        if (request.Settings.BatchSize < 1) throw new InvalidParameterException("batchSize", $"{Param("batchSize")} {request.Settings.BatchSize}: must be at least 1");
        if (request.Settings.ProbeData is not null && request.Settings.ProbeNeutral is not null)
            throw new InvalidParameterException("probeData", $"{Param("probeData")} and {Param("probeNeutral")} are alternatives: give one");
        // Lean: inline weights stay in the file (the session reads them from there), so profiling holds no managed
        // copy of them beside the runtime's.
        var model = StreamingModelRewriter.LoadLean(request.ModelPath);
        var report = SiteFinder.Find(model);
        SiteFinder.RequireKinds(report, request.Settings.Sites, model.FilePath ?? request.ModelPath);
        var sites = report.Sites;
        var ordered = sites.OrderBy(s => s.Kind).ThenBy(s => s.Layer).ToList();
        var tokenizer = TokenizerLoader.Load(request.Settings.Tokenizer ?? model.BaseDirectory);
        var encoder = new SequenceEncoder(tokenizer, request.Settings.MaxTokens ?? ContextLength(model.BaseDirectory) ?? DefaultMaxTokens);

        var mine = request.Pairs.Pairs.Where((_, j) => request.Settings.Shard.Contains(j)).ToList();
        // Bad input records belong to no shard: shard 0 counts them, so a merge of all shards counts each once.
        var skipped = request.Settings.Shard.Index == 0 ? request.Pairs.SkippedBad : 0;
        var encoded = new List<EncodedPair>(mine.Count);
        foreach (var pair in mine)
        {
            try { encoded.Add(encoder.Encode(pair)); }
            catch (BadRecordException e)
            {
                if (!request.Settings.SkipBad) throw new InvalidProfileException($"{pair.Origin}: {e.Text} ({Param("skipBad")} skips such pairs)");
                skipped++;
            }
        }

        // Batches of similar lengths (LengthOrder). Counts are sums, so the order does not change them, and a row does not
        // depend on its batch, with or without a shared prompt (tested); probes keep the pairs' own order (their fit sums
        // over pairs in floating point).
        // The tapped graph, built once: whether it keeps the cache (each pair's prompt then runs once) decides the order,
        // which the checkpoint records, before a session is opened.
        var taps = ActivationTaps.Build(model, ordered, keepCache: true);
        var shares = taps.Cache.Count > 0;
        var order = LengthOrder.Of(encoded, bySharedPrompt: shares);
        var sorted = order.Select(i => encoded[i]).ToList();
        var fingerprint = ModelFingerprint.Compute(model, sites);
        var checkpoints = request.Settings.Checkpoint is { } options ? new CheckpointWriter(options, request, fingerprint, sorted) : null;
        var resumed = checkpoints?.Resume();
        var done = resumed?.PairsDone ?? 0;
        if (resumed is not null)
            request.Settings.Runtime.Notice?.Invoke($"resuming from {request.Settings.Checkpoint!.Path}: {done} of {encoded.Count} pairs were done, going on from pair {done + 1}");
        var counter = new MomentumCounter(ordered.Select(ProfileSite.From));
        // A batch is BatchSize sequences, or as many pairs when each pair's prompt runs once (ActivationRecorder.RecordPairs).
        var pairsPerBatch = shares ? request.Settings.BatchSize : Math.Max(1, request.Settings.BatchSize / 2);
        var clock = Stopwatch.StartNew();
        // Read (and refused, when bad) before the first pair is run.
        var probeTexts = request.Settings.Probes ? ProbeRun.Texts(request.Settings, encoded.Select(e => e.Pair).ToList()) : null;
        if (probeTexts is not null) ProbeRun.CheckMemory(model, ordered, probeTexts, request.Settings);
        if (encoded.Count > done)
        {
            CheckMemory(model, request);
            using var recorder = new ActivationRecorder(model, taps, request.Settings.Runtime);
            for (var start = done; start < encoded.Count; start += pairsPerBatch)
            {
                if (cancel.IsCancellationRequested)
                {
                    var keptPairs = checkpoints?.OnInterrupt(resumed?.Counts, counter, request.Settings.Method) ?? 0;
                    throw new ProfileInterruptedException(done + counter.Pairs, encoded.Count, keptPairs, keptPairs > 0 ? request.Settings.Checkpoint!.Path : null, cancel);
                }
                var chunk = sorted.Skip(start).Take(pairsPerBatch).ToList();
                var rows = recorder.RecordPairs(chunk.Select(p => (p.Positive, p.Negative)).ToList(), request.Settings.BatchSize);
                for (var i = 0; i < chunk.Count; i++)
                {
                    counter.AddPair(rows[2 * i], rows[2 * i + 1]);
                }
                checkpoints?.AfterBatch(resumed?.Counts, counter, request.Settings.Method);
                progress?.Report(new ProfileProgress(done + counter.Pairs, encoded.Count, clock.Elapsed));
            }
        }

        var profile = ProfileCheckpoint.Add(resumed?.Counts, counter.ToProfile(fingerprint, request.Settings.Method));
        profile.ModelFile = model.FilePath is null ? null : Path.GetFileName(model.FilePath);
        profile.Source = request.Pairs.Description;
        profile.Shards = request.Settings.Shard.Count == 1 ? null : [request.Settings.Shard.ToString()];
        profile.Truncated = encoded.Sum(p => p.TruncatedSequences);
        profile.SkippedBad = skipped;
        if (probeTexts is not null) profile.Probes = ProbeRun.Fit(model, ordered, tokenizer, encoder.MaxTokens, probeTexts, request.Settings, cancel);
        var kinds = request.Settings.Sites.Distinct().OrderBy(k => k).ToList();
        profile.Selection = new SelectionSettings
        {
            K = request.Settings.K, Alpha = request.Settings.Alpha, Sites = kinds, RankJointly = request.Settings.RankJointly, Seed = request.Settings.Seed,
            Layers = request.Settings.Method == SteeringMethod.Caa ? request.Settings.Layers?.ToList() : null,
            TieBreak = request.Settings.TieBreak, Direction = request.Settings.Direction,
        };
        return profile.Pairs > 0
            ? UnitSelector.Select(profile, request.Settings.K, request.Settings.Alpha, kinds, request.Settings.RankJointly, request.Settings.Method, request.Settings.Seed, request.Settings.Layers,
                request.Settings.TieBreak, request.Settings.Direction)
            : profile;
    }

    /// <summary>Says in one line what the session will need; refuses, before any weight is read, when that exceeds what is available.</summary>
    private static void CheckMemory(OnnxModel model, ProfileRequest request)
    {
        var estimate = MemoryEstimate.For(model, request.Settings.Runtime.Device == ExecutionDevice.Cpu ? ExecutionDevice.Cpu : ExecutionDevice.Cuda);
        var available = request.Settings.MemoryAvailable ?? MemoryEstimate.Available();
        request.Settings.Runtime.Notice?.Invoke(estimate.Describe(available));
        if (estimate.Exceeds(available) && !request.Settings.IgnoreMemoryEstimate)
            throw new OnnxSteerException(
                $"{model.DisplayName}: profiling needs about {estimate.HostBytes / 1e9:0.0} GB on the {(estimate.Device == ExecutionDevice.Cpu ? "CPU" : "host")} " +
                $"but {available!.Value / 1e9:0.0} GB is available; {estimate.Advice()}; {Param("ignoreMemoryEstimate")} tries anyway");
    }

    /// <summary>context_length from genai_config.json beside the model, if there is one.</summary>
    public static int? ContextLength(string modelDirectory)
    {
        var path = Path.Combine(modelDirectory, "genai_config.json");
        if (!File.Exists(path)) return null;
        try
        {
            var node = JsonNode.Parse(File.ReadAllText(path));
            return node?["model"]?["context_length"]?.GetValue<int>();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }
}
