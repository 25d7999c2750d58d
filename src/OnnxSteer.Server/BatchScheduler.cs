using System.Threading.Channels;
using OnnxSteer.Generation;

namespace OnnxSteer.Server;

/// <summary>An engine that can run several prompts of one length under one steering setting as one batch.</summary>
public interface IBatchEngine : IGenerationEngine
{
    /// <summary>Per step, one id per prompt (in order), until every row is done or <see cref="SamplingSettings.MaxTokens"/> steps.</summary>
    IEnumerable<int[]> GenerateBatch(IReadOnlyList<IReadOnlyList<int>> prompts, SteeringChoice steering, SamplingSettings sampling,
        CancellationToken cancellationToken);
}

/// <summary>
/// Batches concurrent requests where that changes no answer, and only there: greedy requests with the same steering
/// setting (profile and strength, or every step of a composed one) and prompts of the same length. onnxruntime-genai
/// 0.20 batches statically (rows of one length advanced together, one adapter per generator), and a left-padded
/// shorter prompt changed its greedy answer (bench/results.md), while equal-length greedy rows give exactly their
/// one-row ids (tests/OnnxSteer.Tests/Serve/BatchingTests.cs). Sampled requests draw from one random stream per
/// generator, so they run one by one, as do requests for log-probabilities.
/// <para>
/// Batches form from requests that wait: each waits for an <see cref="AdmissionGate"/> slot as any request does; the
/// one that gets it takes along every waiting request of its kind (up to the row bound, and up to
/// <see cref="MaxPromptTokens"/> prompt tokens in all), and those leave the queue. So
/// a batch holds one slot, nothing waits longer than it would have alone, and with a slot free a request runs at once.
/// </para>
/// </summary>
internal sealed class BatchScheduler(AdmissionGate gate, int maxRows, Func<IDisposable> lease, CancellationToken stop)
{
    /// <summary>
    /// Most prompt tokens one batch takes, all rows together: genai appends a batch's prompts in one call, so its
    /// prefill holds rows × length logit rows, and the server's memory bound counts one prefill chunk per generation.
    /// </summary>
    public static int MaxPromptTokens => PromptBudget.PrefillChunk;

    /// <summary>Rows one batch of <paramref name="length"/>-token prompts may have.</summary>
    public int RowsFor(int length) => Math.Clamp(MaxPromptTokens / Math.Max(1, length), 1, maxRows);

    private readonly Lock _lock = new();
    private readonly Dictionary<(IBatchEngine Engine, string Steering, int Length), List<Row>> _waiting = new();
    private long _batches;
    private long _batchedRows;

    /// <summary>Generations of two or more requests run so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Requests those batches answered.</summary>
    public long BatchedRows => Interlocked.Read(ref _batchedRows);

    /// <summary>Whether a request can share a batch and still get its one-row answer.</summary>
    public static bool Batchable(SamplingSettings sampling) => !sampling.IsSampling;

    /// <summary>
    /// Waits for a slot, or for a request of the same kind to take this one into its batch; the row then yields this
    /// request's ids. Throws the gate's 429/503 as any request gets them.
    /// </summary>
    public async Task<Row> EnterAsync(IBatchEngine engine, SteeringChoice steering, IReadOnlyList<int> prompt, SamplingSettings sampling,
        CancellationToken cancellationToken)
    {
        var key = (engine, steering.Label, prompt.Count);
        var row = new Row(prompt, sampling.MaxTokens);
        lock (_lock)
        {
            if (!_waiting.TryGetValue(key, out var list)) _waiting[key] = list = [];
            list.Add(row);
        }
        IDisposable? slot = null;
        Exception? failure = null;
        using (var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, row.Claimed.Token))
        {
            try { slot = await gate.EnterAsync(wait.Token).ConfigureAwait(false); }
            catch (Exception e) { failure = e; }
        }
        // The models' lease before any request is taken along: a stopping server refuses it, and then no one waits on us.
        IDisposable? models = null;
        if (slot is not null)
        {
            try { models = lease(); }
            catch (Exception e)
            {
                slot.Dispose();
                slot = null;
                failure = e;
            }
        }
        List<Row> batch;
        lock (_lock)
        {
            if (row.IsFollower)
            {
                // Taken into a batch while its own slot came: the batch's one slot is enough.
                slot?.Dispose();
                models?.Dispose();
                return row;
            }
            var list = _waiting[key];
            list.Remove(row);
            if (failure is null)
            {
                batch = [row, .. list.Take(RowsFor(prompt.Count) - 1)];
                list.RemoveRange(0, batch.Count - 1);
                foreach (var follower in batch.Skip(1)) follower.IsFollower = true;
            }
            else batch = [];
            if (list.Count == 0) _waiting.Remove(key);
        }
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        foreach (var follower in batch.Skip(1)) follower.Claimed.Cancel();
        if (batch.Count > 1)
        {
            Interlocked.Increment(ref _batches);
            Interlocked.Add(ref _batchedRows, batch.Count);
        }
        _ = Task.Run(() => Run(engine, steering, batch, slot!, models!));
        return row;
    }

    /// <summary>Runs one generation for <paramref name="rows"/> and hands each row its ids, until every row is done.</summary>
    private void Run(IBatchEngine engine, SteeringChoice steering, List<Row> rows, IDisposable slot, IDisposable models)
    {
        try
        {
            foreach (var r in rows) r.BatchSize = rows.Count;
            var sampling = new SamplingSettings { MaxTokens = rows.Max(r => r.MaxTokens) };
            var steps = rows.Count == 1
                ? engine.Generate(rows[0].Prompt, steering, sampling, stop).Select(id => new[] { id })
                : engine.GenerateBatch([.. rows.Select(r => r.Prompt)], steering, sampling, stop);
            using var enumerator = steps.GetEnumerator();
            for (var produced = 1; rows.Any(r => !r.Done) && enumerator.MoveNext(); produced++)
                for (var i = 0; i < rows.Count; i++)
                {
                    if (rows[i].Done) continue;
                    rows[i].Tokens.Writer.TryWrite(enumerator.Current[i]);
                    if (produced >= rows[i].MaxTokens) rows[i].Tokens.Writer.TryComplete();
                }
            foreach (var r in rows) r.Tokens.Writer.TryComplete();
        }
        catch (Exception e)
        {
            foreach (var r in rows) r.Tokens.Writer.TryComplete(e);
        }
        finally
        {
            slot.Dispose();
            models.Dispose();
        }
    }

    /// <summary>One request's place: in the queue, then in a generation. Dispose it when the request stops reading.</summary>
    internal sealed class Row(IReadOnlyList<int> prompt, int maxTokens) : IDisposable
    {
        private int _done;

        public IReadOnlyList<int> Prompt { get; } = prompt;
        public int MaxTokens { get; } = maxTokens;
        public Channel<int> Tokens { get; } = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        public CancellationTokenSource Claimed { get; } = new();

        /// <summary>Whether another request's batch took this one along (set under the scheduler's lock).</summary>
        public bool IsFollower { get; set; }

        /// <summary>How many requests the generation that answers this one serves.</summary>
        public int BatchSize { get; set; } = 1;

        /// <summary>Whether the request stopped reading (its answer is complete, or it was cut).</summary>
        public bool Done => Volatile.Read(ref _done) == 1;

        /// <summary>This request's ids, as the generation makes them.</summary>
        public IAsyncEnumerable<int> Read(CancellationToken cancellationToken) => Tokens.Reader.ReadAllAsync(cancellationToken);

        public void Dispose() => Volatile.Write(ref _done, 1);
    }
}
