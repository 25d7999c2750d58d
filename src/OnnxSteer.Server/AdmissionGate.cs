namespace OnnxSteer.Server;

/// <summary>
/// Bounds the generations that run at once (each holds a KV cache and its prefill buffers, so memory grows with
/// them): up to <see cref="MaxConcurrent"/> run, up to <see cref="MaxQueue"/> more wait in arrival order for at most
/// the queue timeout; past the queue a request is refused at once with 429, and one that waited too long gets 503,
/// both with <c>Retry-After</c>.
/// </summary>
internal sealed class AdmissionGate : IDisposable
{
    private readonly SemaphoreSlim _slots;
    private readonly TimeSpan _queueTimeout;
    private int _waiting;

    public AdmissionGate(int maxConcurrent, int maxQueue, TimeSpan queueTimeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrent, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(maxQueue);
        MaxConcurrent = maxConcurrent;
        MaxQueue = maxQueue;
        _queueTimeout = queueTimeout;
        _slots = new SemaphoreSlim(maxConcurrent, maxConcurrent);
    }

    /// <summary>Generations that may run at once.</summary>
    public int MaxConcurrent { get; }

    /// <summary>Requests that may wait for a slot.</summary>
    public int MaxQueue { get; }

    /// <summary>Requests waiting now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Generations running now.</summary>
    public int Running => MaxConcurrent - _slots.CurrentCount;

    /// <summary>Waits for a slot; the returned lease frees it. Throws <see cref="ApiError"/> 429 or 503.</summary>
    public async Task<IDisposable> EnterAsync(CancellationToken cancellationToken)
    {
        if (_slots.Wait(0)) return new Slot(this);
        if (Interlocked.Increment(ref _waiting) > MaxQueue)
        {
            Interlocked.Decrement(ref _waiting);
            throw ApiErrors.Busy(429, $"{MaxConcurrent} requests are generating and {MaxQueue} waiting, the most this server takes; retry later", "queue_full");
        }
        try
        {
            if (!await _slots.WaitAsync(_queueTimeout, cancellationToken).ConfigureAwait(false))
                throw ApiErrors.Busy(503, $"no generation slot came free within {_queueTimeout.TotalSeconds:0.#} s; retry later", "queue_timeout");
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
        return new Slot(this);
    }

    public void Dispose() => _slots.Dispose();

    private sealed class Slot(AdmissionGate owner) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) owner._slots.Release();
        }
    }

    /// <summary>
    /// The default bound: the CPU cores (generation is compute-bound: more at once only shares them), fewer when
    /// <paramref name="bytesPerGeneration"/> each would take more than half of <paramref name="availableBytes"/>; at least 1.
    /// </summary>
    public static int DefaultMaxConcurrent(int cores, long availableBytes, long bytesPerGeneration)
    {
        var byMemory = bytesPerGeneration <= 0 ? int.MaxValue : Math.Max(1, availableBytes / 2 / bytesPerGeneration);
        return (int)Math.Clamp(Math.Min(cores, byMemory), 1, 256);
    }
}

/// <summary>How many generations run at once, how many wait, and for how long (see <see cref="AdmissionGate"/>).</summary>
public sealed record AdmissionLimits
{
    /// <summary>Generations that run at once; null = from the cores and memory (one per core, fewer when memory is short).</summary>
    public int? MaxConcurrent { get; init; }

    /// <summary>Requests that may wait for a slot; more are refused with 429.</summary>
    public int MaxQueue { get; init; } = 64;

    /// <summary>How long a request may wait for a slot before it is refused with 503.</summary>
    public TimeSpan QueueTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a request's body may take to arrive (408 past it): a body trickled byte by byte holds a connection.</summary>
    public TimeSpan BodyTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one request may generate before it is cut (its stream ends with an error event).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(5);
}
