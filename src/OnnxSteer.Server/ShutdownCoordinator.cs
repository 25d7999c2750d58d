namespace OnnxSteer.Server;

/// <summary>
/// Keeps the models alive while any generator runs. Every generation holds a <see cref="Enter">lease</see> from its
/// start until its generator is disposed; a stop signal gives in-flight work until the drain deadline, then
/// <see cref="Cut"/> fires (each generator stops at its next step, each open stream ends with an error event and
/// <c>[DONE]</c>), and <see cref="CloseAsync"/> refuses new leases and completes only when the last lease is gone — the
/// models are freed after that, never under a running generator (genai crashes, or reads freed memory, when they are).
/// </summary>
internal sealed class ShutdownCoordinator : IDisposable
{
    private readonly CancellationTokenSource _cut = new();
    private readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private int _active;
    private bool _closed;

    /// <summary>Fires when in-flight generations must stop: the drain deadline after a stop signal passed.</summary>
    public CancellationToken Cut => _cut.Token;

    /// <summary>Whether a stop signal came.</summary>
    public bool Stopping { get; private set; }

    /// <summary>Generations running now.</summary>
    public int Active
    {
        get { lock (_lock) return _active; }
    }

    /// <summary>The stop signal: in-flight generations may run for <paramref name="drain"/> more, then are cut.</summary>
    public void BeginStop(TimeSpan drain)
    {
        lock (_lock)
        {
            if (Stopping || _closed) return;
            Stopping = true;
        }
        if (drain <= TimeSpan.Zero) _cut.Cancel();
        else _cut.CancelAfter(drain);
    }

    /// <summary>A lease for one generation; throws 503 once the server is stopping.</summary>
    public IDisposable Enter()
    {
        lock (_lock)
        {
            if (Stopping || _closed) throw ApiErrors.Stopping();
            _active++;
        }
        return new Lease(this);
    }

    private void Exit()
    {
        lock (_lock)
        {
            _active--;
            if (_closed && _active == 0) _idle.TrySetResult();
        }
    }

    /// <summary>
    /// Refuses new generations, cuts the running ones, and completes when the last has ended (true), or after
    /// <paramref name="patience"/> with generators still running (false: the caller must then not free the models).
    /// </summary>
    public async Task<bool> CloseAsync(TimeSpan patience)
    {
        lock (_lock)
        {
            _closed = true;
            Stopping = true;
            if (_active == 0) _idle.TrySetResult();
        }
        _cut.Cancel();
        try
        {
            await _idle.Task.WaitAsync(patience).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException) { return false; }
    }

    public void Dispose() => _cut.Dispose();

    private sealed class Lease(ShutdownCoordinator owner) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) owner.Exit();
        }
    }
}
