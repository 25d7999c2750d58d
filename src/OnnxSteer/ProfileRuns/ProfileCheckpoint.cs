using System.Security.Cryptography;
using System.Text.Json;
using System.Text;
using OnnxSteer.IO;
using OnnxSteer.Profiles;
using OnnxSteer.Recording;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.ProfileRuns;

/// <summary>When <c>profile</c> saves a checkpoint, where, and whether it continues from one.</summary>
public sealed record CheckpointOptions
{
    /// <summary>The checkpoint file (written atomically; removed by the CLI once the profile is saved).</summary>
    public required string Path { get; init; }
    /// <summary>Save after at least this many new pairs (rounded up to whole batches); 0 = not by pairs.</summary>
    public int EveryPairs { get; init; }
    /// <summary>Save when this much time passed since the last save (checked after each batch); null = not by time.</summary>
    public TimeSpan? Every { get; init; }
    /// <summary>Continue from <see cref="Path"/> when it exists (a missing checkpoint starts from the first pair).</summary>
    public bool Resume { get; init; }

    /// <summary>The default checkpoint path for a profile written to <paramref name="output"/>.</summary>
    public static string PathFor(string output) => output + ".checkpoint";
}

/// <summary>
/// The exact counts of the first <see cref="PairsDone"/> pairs of one profiling run. The counts are a profile without a
/// selection (<see cref="MomentumCounter.ToProfile"/>), written with the profile's own JSON and added to the rest of the
/// run with <see cref="ProfileMerger"/>: whatever statistics a profile carries are saved and resumed exactly, and the
/// resumed profile is byte-identical to an uninterrupted one. <see cref="Work"/> pins what the pairs are (model
/// structure, shard, every token of every pair of the shard) so a checkpoint is never continued on different work.
/// </summary>
internal sealed class ProfileCheckpoint
{
    /// <summary>Format identifier written in the file.</summary>
    public const string FormatId = "onnxsteer.profile-checkpoint/1";

    /// <summary>"sha256:…" of the work: see <see cref="WorkKey"/>.</summary>
    public required string Work { get; init; }
    /// <summary>Sequences per run: batches are cut the same way on resume, so the runtime sees the same inputs.</summary>
    public required int BatchSize { get; init; }
    /// <summary>Pairs of the shard counted so far (a whole number of batches).</summary>
    public required int PairsDone { get; init; }
    /// <summary>Pairs of the shard in all.</summary>
    public required int PairsTotal { get; init; }
    /// <summary>The counts of the first <see cref="PairsDone"/> pairs, as a profile without a selection.</summary>
    public required SteeringProfile Counts { get; init; }

    /// <summary>Writes the checkpoint atomically: a reader (or a resume after SIGKILL) sees the old one or this one.</summary>
    public void Save(string path)
    {
        ProfileJson.Validate(Counts, path);
        var counts = ProfileJson.Serialize(Counts);
        AtomicFile.Write(path, stream =>
        {
            using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            w.WriteStartObject();
            w.WriteString("format", FormatId);
            w.WriteString("work", Work);
            w.WriteNumber("batchSize", BatchSize);
            w.WriteNumber("pairsDone", PairsDone);
            w.WriteNumber("pairsTotal", PairsTotal);
            w.WritePropertyName("counts");
            w.WriteRawValue(counts, skipInputValidation: true);
            w.WriteEndObject();
        });
    }

    /// <summary>Reads a checkpoint; anything malformed is an <see cref="InvalidProfileException"/> naming the file.</summary>
    public static ProfileCheckpoint Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidProfileException($"{path}: cannot read the checkpoint: {e.Message}", e);
        }
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out var format) || format.GetString() != FormatId)
                throw new InvalidProfileException($"{path}: not a profile checkpoint (expected format '{FormatId}')");
            var counts = ProfileJson.Deserialize(Encoding.UTF8.GetBytes(root.GetProperty("counts").GetRawText()), path);
            var checkpoint = new ProfileCheckpoint
            {
                Work = root.GetProperty("work").GetString() ?? "",
                BatchSize = root.GetProperty("batchSize").GetInt32(),
                PairsDone = root.GetProperty("pairsDone").GetInt32(),
                PairsTotal = root.GetProperty("pairsTotal").GetInt32(),
                Counts = counts,
            };
            if (checkpoint.PairsDone < 0 || checkpoint.PairsDone > checkpoint.PairsTotal || checkpoint.PairsDone != counts.Pairs)
                throw new InvalidProfileException($"{path}: pairsDone {checkpoint.PairsDone} does not match its counts ({counts.Pairs} pairs of {checkpoint.PairsTotal})");
            return checkpoint;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidProfileException($"{path}: malformed checkpoint: {e.Message}", e);
        }
    }

    /// <summary>
    /// "sha256:…" over the model fingerprint (graph structure and sites), the shard, and the token ids of both
    /// sequences of every pair in the shard, in order: everything that decides the counts of pair j.
    /// </summary>
    public static string WorkKey(string modelFingerprint, ShardSpec shard, IReadOnlyList<EncodedPair> pairs)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{modelFingerprint}\n{shard}\n{pairs.Count}\n"));
        var buffer = new byte[4];
        void Append(IReadOnlyList<int> ids)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(buffer, ids.Count);
            hash.AppendData(buffer);
            foreach (var id in ids)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(buffer, id);
                hash.AppendData(buffer);
            }
        }
        foreach (var p in pairs)
        {
            Append(p.Positive);
            Append(p.Negative);
        }
        return "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>
    /// The counts of <paramref name="done"/> and <paramref name="more"/> (disjoint pairs of one run) added by the merge
    /// code; null <paramref name="done"/> gives <paramref name="more"/>. Run metadata comes from <paramref name="more"/>.
    /// </summary>
    public static SteeringProfile Add(SteeringProfile? done, SteeringProfile more)
    {
        if (done is null) return more;
        var (source, shards) = (more.Source, more.Shards);
        // Distinct sources: the two parts are consecutive pairs of one list, not shards that could overlap.
        done.Source = "checkpoint";
        done.Shards = null;
        more.Source = "rest";
        more.Shards = null;
        var sum = ProfileMerger.Merge([(done, "the checkpoint"), (more, "this run")]);
        (more.Source, more.Shards) = (source, shards);
        sum.Source = source;
        sum.Shards = shards;
        sum.ToolVersion = ToolInfo.Version;
        return sum;
    }
}

/// <summary>Saves checkpoints of one profiling run when its <see cref="CheckpointOptions"/> say so, and finds the one to resume.</summary>
internal sealed class CheckpointWriter(CheckpointOptions options, ProfileRequest request, string fingerprint, IReadOnlyList<EncodedPair> pairs)
{
    private readonly string _work = ProfileCheckpoint.WorkKey(fingerprint, request.Settings.Shard, pairs);
    private readonly System.Diagnostics.Stopwatch _sinceSave = System.Diagnostics.Stopwatch.StartNew();
    private int _pairsAtSave;

    /// <summary>The checkpoint to continue from (checked against this run), or null to start at the first pair.</summary>
    public ProfileCheckpoint? Resume()
    {
        if (!options.Resume || !File.Exists(options.Path)) return null;
        var checkpoint = ProfileCheckpoint.Load(options.Path);
        if (checkpoint.Work != _work || checkpoint.PairsTotal != pairs.Count)
            throw new InvalidProfileException($"{options.Path}: the checkpoint is of different work (another model, pair list, shard, tokenizer or " +
                                              $"{Param("maxTokens")}); delete it or run without {Param("resume")}");
        if (checkpoint.BatchSize != request.Settings.BatchSize)
            throw new InvalidProfileException($"{options.Path}: the checkpoint was written with {Param("batchSize")} {checkpoint.BatchSize}; resume with the same");
        if (checkpoint.Counts.Method != request.Settings.Method)
            throw new InvalidProfileException($"{options.Path}: the checkpoint was written with {Param("method")} {checkpoint.Counts.Method.ToName()}; resume with the same");
        _pairsAtSave = 0;
        return checkpoint;
    }

    /// <summary>After each batch: saves the counts so far (<paramref name="done"/> plus <paramref name="counter"/>) when due.</summary>
    public void AfterBatch(SteeringProfile? done, MomentumCounter counter, SteeringMethod method)
    {
        var byPairs = options.EveryPairs > 0 && counter.Pairs - _pairsAtSave >= options.EveryPairs;
        var byTime = options.Every is { } every && _sinceSave.Elapsed >= every;
        var finished = (done?.Pairs ?? 0) + counter.Pairs == pairs.Count;
        if (finished || !(byPairs || byTime)) return; // the finished profile itself is the last word
        Save(done, counter, method);
    }

    /// <summary>
    /// When the run is interrupted: saves the counts of the pairs finished since the last save, so that --resume loses
    /// nothing; returns the pairs the checkpoint holds (0: nothing to keep, no file written).
    /// </summary>
    public int OnInterrupt(SteeringProfile? done, MomentumCounter counter, SteeringMethod method)
    {
        if (counter.Pairs > _pairsAtSave) Save(done, counter, method);
        return File.Exists(options.Path) ? (done?.Pairs ?? 0) + _pairsAtSave : 0;
    }

    private void Save(SteeringProfile? done, MomentumCounter counter, SteeringMethod method)
    {
        // Add works on copies: the resumed counts stay as loaded for the next save and the end.
        var counts = ProfileCheckpoint.Add(done is null ? null : done.Clone(), counter.ToProfile(fingerprint, method));
        new ProfileCheckpoint { Work = _work, BatchSize = request.Settings.BatchSize, PairsDone = counts.Pairs, PairsTotal = pairs.Count, Counts = counts }.Save(options.Path);
        _pairsAtSave = counter.Pairs;
        _sinceSave.Restart();
    }
}

/// <summary>
/// Profiling was cancelled between batches: how far it got and whether a checkpoint keeps that work (run again with
/// <see cref="CheckpointOptions.Resume"/> to continue from it). A cancellation like any other for callers that only
/// catch <see cref="OperationCanceledException"/>.
/// </summary>
public sealed class ProfileInterruptedException : OperationCanceledException
{
    internal ProfileInterruptedException(int pairsDone, int pairsTotal, int pairsKept, string? checkpoint, CancellationToken token)
        : base(token)
    {
        PairsDone = pairsDone;
        PairsTotal = pairsTotal;
        PairsKept = pairsKept;
        Checkpoint = checkpoint;
    }

    /// <summary>Pairs recorded before the cancellation.</summary>
    public int PairsDone { get; }

    /// <summary>Pairs the run was to record.</summary>
    public int PairsTotal { get; }

    /// <summary>Pairs the checkpoint holds; 0 when nothing was kept.</summary>
    public int PairsKept { get; }

    /// <summary>The checkpoint file, or null when the run had none.</summary>
    public string? Checkpoint { get; }
}
