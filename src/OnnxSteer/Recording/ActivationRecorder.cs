using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;

namespace OnnxSteer.Recording;

/// <summary>
/// Runs token sequences through a model in ONNX Runtime, in one pass without KV cache, and returns each sequence's
/// last-token activation at every tapped site (see <see cref="ActivationTaps"/>). Sequences are right-padded into
/// one batch (<see cref="PaddedBatch"/>). The model may take input_ids, attention_mask, position_ids and
/// past_key_values.* (fed empty, past length 0); any other input is refused.
/// </summary>
internal sealed class ActivationRecorder : IDisposable
{
    private readonly InferenceSession _session;
    private readonly ActivationTaps _taps;
    private readonly List<ValueInfoProto> _inputs;

    /// <summary>The sites recorded, in the order rows are returned.</summary>
    public IReadOnlyList<SteeringSite> Sites => _taps.Sites;

    /// <summary>Names of the inputs the model takes, for messages.</summary>
    public IReadOnlyList<string> InputNames => _inputs.Select(i => i.Name).ToList();

    private TapPooling Pooling => _taps.Pooling;

    public ActivationRecorder(OnnxModel model, IReadOnlyList<SteeringSite> sites, RuntimeSettings? settings = null, TapPooling pooling = TapPooling.LastToken)
        : this(model, ActivationTaps.Build(model, sites, pooling, keepCache: pooling == TapPooling.LastToken), settings)
    {
    }

    /// <summary>Runs <paramref name="taps"/>, built from <paramref name="model"/> by the caller (a profiling run builds
    /// them once: whether they keep the cache decides the order of its pairs, before a session is opened).</summary>
    public ActivationRecorder(OnnxModel model, ActivationTaps taps, RuntimeSettings? settings = null)
    {
        _taps = taps;
        var initializers = model.Graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        _inputs = _taps.Model.Graph.Input.Where(i => !initializers.Contains(i.Name) && i.Name is not (ActivationTaps.RowsInput or ActivationTaps.PoolInput)).ToList();
        foreach (var input in _inputs)
            if (input.Name == "inputs_embeds") throw new InvalidModelException(InputsEmbedsRefusal(model.FilePath));
            else if (!IsKnownInput(input.Name))
                throw new InvalidModelException(
                    $"{model.FilePath}: input '{input.Name}' is not one profiling can feed (input_ids, attention_mask, position_ids, past_key_values.*, use_cache_branch)");
        if (!_inputs.Any(i => i.Name == "input_ids")) throw new InvalidModelException($"{model.FilePath}: the model has no input_ids input");
        _session = (settings ?? RuntimeSettings.Default).OpenSession(_taps.ToBytes(), model.BaseDirectory, out _, model.FilePath ?? "(model)");
    }

    /// <summary>Why a decoder fed <c>inputs_embeds</c> (a multi-file genai pipeline's, whose embedding model is another
    /// file) is not profiled: the pairs are text, and the embeddings of their tokens come from that other model.</summary>
    public static string InputsEmbedsRefusal(string? file) =>
        $"{file}: the model takes inputs_embeds, not input_ids (the decoder of a multi-file pipeline: genai_config.json's embedding model computes them), " +
        "and profiling feeds token ids only; profile an export of the same decoder that takes input_ids, then patch this file with that profile (its fingerprint differs: force it)";

    /// <summary>The input of an Optimum merged decoder that chooses the branch with past.</summary>
    private const string UseCacheBranch = "use_cache_branch";

    private static bool IsKnownInput(string name) =>
        name is "input_ids" or "attention_mask" or "position_ids" or UseCacheBranch || IsPast(name);

    /// <summary>
    /// Runs <paramref name="sequences"/> as one batch; result[b][s] is sequence b's last-token (or, pooled, mean)
    /// activation at site s.
    /// </summary>
    public float[][][] Record(IReadOnlyList<IReadOnlyList<int>> sequences)
    {
        var batch = new PaddedBatch(sequences);
        var feed = new Feed(this, batch.Batch, batch.Length);
        try
        {
            feed.Ids(batch.InputIds, batch.AttentionMask, batch.PositionIds, batch.Length);
            if (Pooling == TapPooling.Mean) feed.Add(ActivationTaps.PoolInput, OrtValue.CreateTensorValueFromMemory(batch.MeanWeights(), [batch.Batch, (long)batch.Batch * batch.Length]));
            else feed.Add(ActivationTaps.RowsInput, OrtValue.CreateTensorValueFromMemory(batch.LastRows, [batch.Batch]));
            feed.EmptyPast();
            using var outputs = _session.RunNamed(feed.Names, feed.Values, _taps.OutputNames);
            return Rows(outputs, batch.Batch);
        }
        finally
        {
            feed.Dispose();
        }
    }

    /// <summary>Whether <see cref="RecordPairs"/> can run a pair's shared prompt once (the model has a KV cache whose
    /// every past input has its present output, and the taps take last tokens).</summary>
    public bool SharesPrompts => _taps.Cache.Count > 0;

    /// <summary>
    /// Records contrastive pairs: result[2i] and result[2i + 1] are pair i's positive and negative sides. Where the
    /// model has a KV cache (<see cref="SharesPrompts"/>), the tokens both sides share (the prompt) run once per pair,
    /// up to <paramref name="sequencesPerRun"/> prompts per run, and each side's own tokens after them one token per run
    /// from the cache, as a generation host runs them (<see cref="PromptSplit"/>): every decoder export runs those two
    /// kinds of run, while onnxruntime-genai's GroupQueryAttention refuses several new tokens after a past in a batch.
    /// Those rows equal <see cref="Record"/>'s within 1e-5 of the row's largest magnitude in fp32 (tested: the attention
    /// kernels sum in another order for one new token), and each depends on its pair alone, never on the batch. Pairs
    /// not worth cutting (<see cref="PromptSplit.PrefixOf"/>) go through <see cref="Record"/>,
    /// <paramref name="sequencesPerRun"/> sequences per run.
    /// </summary>
    public float[][][] RecordPairs(IReadOnlyList<(IReadOnlyList<int> Positive, IReadOnlyList<int> Negative)> pairs, int sequencesPerRun = 8)
    {
        if (sequencesPerRun < 1) throw new ArgumentOutOfRangeException(nameof(sequencesPerRun), sequencesPerRun, "must be at least 1");
        var result = new float[2 * pairs.Count][][];
        var groups = Enumerable.Range(0, pairs.Count).GroupBy(i => SharesPrompts ? PromptSplit.PrefixOf(pairs[i]) : 0);
        foreach (var group in groups)
        {
            // A run holds sequencesPerRun sequences, or as many prompts (each pair's prompt once, with two sides after it).
            foreach (var members in group.Chunk(group.Key == 0 ? Math.Max(1, sequencesPerRun / 2) : sequencesPerRun))
            {
                var chosen = members.Select(i => pairs[i]).ToList();
                var rows = group.Key == 0 ? Record(chosen.SelectMany(p => new[] { p.Positive, p.Negative }).ToList()) : RecordSplit(PromptSplit.Of(chosen));
                for (var j = 0; j < members.Length; j++)
                {
                    result[2 * members[j]] = rows[2 * j];
                    result[2 * members[j] + 1] = rows[2 * j + 1];
                }
            }
        }
        return result;
    }

    /// <summary>Each pair's prefix once, then the suffixes one token per run; rows as <see cref="RecordPairs"/>.</summary>
    private float[][][] RecordSplit(PromptSplit split)
    {
        var rows = 2 * split.Pairs;
        var result = new float[rows][][];
        // Each step runs one token per row, so row b's tap is row b.
        var eachRow = Enumerable.Range(0, rows).Select(b => (long)b).ToArray();
        var past = RunPrefix(split);
        try
        {
            for (var step = 0; step < split.SuffixLength; step++)
            {
                var feed = new Feed(this, rows, 1);
                try
                {
                    var ids = new long[rows];
                    for (var b = 0; b < rows; b++) ids[b] = split.SuffixIds[b * split.SuffixLength + step];
                    var positions = new long[rows];
                    Array.Fill(positions, split.PrefixLength + step);
                    var length = split.PrefixLength + step + 1;
                    feed.Ids(ids, Ones(rows * length), positions, length);
                    feed.Add(ActivationTaps.RowsInput, OrtValue.CreateTensorValueFromMemory(eachRow, [rows]));
                    foreach (var (name, value) in past) feed.Add(name, value);
                    past.Clear();
                    var last = step == split.SuffixLength - 1;
                    using var outputs = _session.RunNamed(feed.Names, feed.Values, last ? _taps.OutputNames : [.. _taps.OutputNames, .. _taps.Cache.Select(c => c.Present)]);
                    var tapped = Rows(outputs, rows);
                    // A side whose own tokens end at this step has its last token's row here; a shorter side's later
                    // steps run padding after it, which its rows never see.
                    for (var b = 0; b < rows; b++)
                        if (split.LastRows[b] == (long)b * split.SuffixLength + step) result[b] = tapped[b];
                    if (!last) foreach (var link in _taps.Cache) past[link.Past] = outputs.Detach(link.Present);
                }
                finally
                {
                    feed.Dispose();
                }
            }
            return result;
        }
        finally
        {
            foreach (var value in past.Values) value.Dispose();
        }
    }

    /// <summary>Runs each pair's prefix once; returns the past of the suffix run: each present row repeated for the
    /// pair's two sides (batch 2·pairs).</summary>
    private Dictionary<string, OrtValue> RunPrefix(PromptSplit split)
    {
        var feed = new Feed(this, split.Pairs, split.PrefixLength);
        var past = new Dictionary<string, OrtValue>(StringComparer.Ordinal);
        try
        {
            var rows = Enumerable.Range(0, split.Pairs).Select(i => (long)(i + 1) * split.PrefixLength - 1).ToArray();
            var positions = new long[split.PrefixIds.Length];
            for (var i = 0; i < positions.Length; i++) positions[i] = i % split.PrefixLength;
            feed.Ids(split.PrefixIds, Ones(split.PrefixIds.Length), positions, split.PrefixLength);
            feed.Add(ActivationTaps.RowsInput, OrtValue.CreateTensorValueFromMemory(rows, [rows.Length]));
            feed.EmptyPast();
            using var outputs = _session.RunNamed(feed.Names, feed.Values, _taps.Cache.Select(c => c.Present).ToList());
            for (var c = 0; c < _taps.Cache.Count; c++) past[_taps.Cache[c].Past] = EachRowTwice(outputs[c], _taps.Cache[c], split.Pairs);
            return past;
        }
        catch
        {
            foreach (var value in past.Values) value.Dispose();
            throw;
        }
        finally
        {
            feed.Dispose();
        }
    }

    /// <summary>
    /// <paramref name="present"/> [batch, …] with each batch row repeated twice: [2·batch, …], in a buffer of this
    /// recorder's kept for the next batch (a fresh allocation of that size every batch cost page faults worth several
    /// percent of a ~400M model's profiling). The value lives until the next prefix run of this link.
    /// </summary>
    private OrtValue EachRowTwice(OrtValue present, CacheLink link, int batch)
    {
        var shape = present.Shape();
        if (shape.Length == 0 || shape[0] != batch)
            throw new InvalidModelException($"{link.Present}: expected a KV cache of batch {batch}, the model produced shape [{string.Join(",", shape)}]");
        var source = present.GetTensorMutableRawData();
        if (!_pastBuffers.TryGetValue(link.Past, out var buffer) || buffer.Length < 2 * source.Length)
            _pastBuffers[link.Past] = buffer = GC.AllocateUninitializedArray<byte>(2 * source.Length, pinned: true);
        var row = source.Length / batch;
        for (var b = 0; b < batch; b++)
        {
            source.Slice(b * row, row).CopyTo(buffer.AsSpan(2 * b * row, row));
            source.Slice(b * row, row).CopyTo(buffer.AsSpan((2 * b + 1) * row, row));
        }
        var doubled = (long[])shape.Clone();
        doubled[0] = 2L * batch;
        return OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, present.ElementType(), doubled,
            Marshal.UnsafeAddrOfPinnedArrayElement(buffer, 0), 2L * source.Length);
    }

    /// <summary>The doubled past of each cache link (pinned: ONNX Runtime reads it in place), reused batch after batch.</summary>
    private readonly Dictionary<string, byte[]> _pastBuffers = new(StringComparer.Ordinal);

    private static long[] Ones(int count)
    {
        var ones = new long[count];
        Array.Fill(ones, 1L);
        return ones;
    }

    /// <summary>result[b][s]: row b of site s's tap.</summary>
    private float[][][] Rows(RunOutputs outputs, int batch)
    {
        var result = new float[batch][][];
        for (var b = 0; b < batch; b++) result[b] = new float[_taps.Sites.Count][];
        for (var s = 0; s < _taps.Sites.Count; s++)
        {
            var width = _taps.Sites[s].Width;
            var data = outputs[s].GetTensorDataAsSpan<float>();
            if (data.Length != batch * width)
                throw new InvalidModelException($"site {_taps.Sites[s].Id}: expected {batch}×{width} values, the model produced {data.Length}");
            for (var b = 0; b < batch; b++) result[b][s] = data.Slice(b * width, width).ToArray();
        }
        return result;
    }

    /// <summary>The inputs of one run, by name, disposed together: ids, mask, positions and the cache branch of the
    /// model's own inputs, the tap's input, and the past (empty, or a prefix's).</summary>
    private sealed class Feed(ActivationRecorder recorder, int batch, int length) : IDisposable
    {
        public List<string> Names { get; } = [];
        public List<OrtValue> Values { get; } = [];

        public void Add(string name, OrtValue value)
        {
            Names.Add(name);
            Values.Add(value);
        }

        /// <summary>The token inputs: ids and positions [batch, length], the mask [batch, <paramref name="maskLength"/>]
        /// (past and new tokens), and the cache branch (with past when the mask is longer than the tokens).</summary>
        public void Ids(long[] ids, long[] mask, long[] positions, int maskLength)
        {
            foreach (var input in recorder._inputs)
            {
                OrtValue? value = input.Name switch
                {
                    "input_ids" => OrtValue.CreateTensorValueFromMemory(ids, [batch, length]),
                    "attention_mask" => OrtValue.CreateTensorValueFromMemory(mask, [batch, maskLength]),
                    "position_ids" => OrtValue.CreateTensorValueFromMemory(positions, [batch, length]),
                    // A merged decoder: the branch with past only when there is one.
                    UseCacheBranch => OrtValue.CreateTensorValueFromMemory(new[] { maskLength > length }, [1]),
                    _ => null,
                };
                if (value is not null) Add(input.Name, value);
            }
        }

        /// <summary>Every past input the model takes, empty (past length 0).</summary>
        public void EmptyPast()
        {
            foreach (var input in recorder._inputs.Where(i => IsPast(i.Name))) Add(input.Name, ActivationRecorder.EmptyPast(input, batch));
        }

        public void Dispose()
        {
            foreach (var value in Values) value.Dispose();
        }
    }

    private static bool IsPast(string name) => name.StartsWith("past_", StringComparison.Ordinal);

    /// <summary>An empty past (length 0) of the input's declared shape: batch dims get the batch size, others 0 when symbolic.</summary>
    private static OrtValue EmptyPast(ValueInfoProto input, int batch)
    {
        var tensor = input.Type?.TensorType ?? throw new InvalidModelException($"input '{input.Name}' is not a tensor");
        var dims = tensor.Shape?.Dim ?? throw new InvalidModelException($"input '{input.Name}' has no declared shape, so its empty past cannot be built");
        var shape = dims.Select((d, i) => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue
            ? d.DimValue
            : i == 0 || d.DimParam.Contains("batch", StringComparison.OrdinalIgnoreCase) ? batch : 0L).ToArray();
        if (!shape.Contains(0)) throw new InvalidModelException($"input '{input.Name}': no symbolic past-length dimension to set to 0");
        return OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, (TensorElementType)tensor.ElemType, shape);
    }

    public void Dispose() => _session.Dispose();
}
