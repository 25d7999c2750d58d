using Microsoft.ML.OnnxRuntimeGenAI;
using OnnxSteer.Interop;
using OnnxSteer.Patching;

namespace OnnxSteer.Server;

/// <summary>
/// The strengths one switchable genai <see cref="Model"/> has been asked for, each an .onnx_adapter holding
/// <c>onnxsteer.strength</c> (<see cref="OnnxSteer.Interop.StrengthAdapter.Parameter"/>), written to a private folder and
/// loaded into the model's <see cref="Adapters"/> once, then activated per generator. At most
/// <see cref="Capacity"/> stay loaded: a new strength unloads the least recently used one that no generator holds
/// (when every loaded one is in use, the set grows past the bound until they are released).
/// </summary>
/// <remarks>
/// Every adapter operation — load, unload, activation, and the disposal of a generator that holds an adapter — runs
/// under one lock: genai counts an adapter's users with a plain integer and refuses to unload one still in use.
/// </remarks>
public sealed class StrengthAdapters : IDisposable
{
    private readonly Adapters _adapters;
    private readonly string _folder;
    private readonly string _prefix;
    private readonly Lock _lock = new();
    private readonly Dictionary<float, Entry> _loaded = [];
    private long _clock;

    /// <summary>An adapter set for <paramref name="model"/>, its files named <paramref name="prefix"/>… in <paramref name="folder"/>.</summary>
    public StrengthAdapters(Model model, string folder, string prefix, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _adapters = new Adapters(model);
        _folder = folder;
        _prefix = prefix;
        Capacity = capacity;
    }

    /// <summary>How many strengths stay loaded when no generator holds them.</summary>
    public int Capacity { get; }

    /// <summary>The strengths loaded now (for tests and logs).</summary>
    public IReadOnlyCollection<float> Loaded
    {
        get { lock (_lock) return [.. _loaded.Keys]; }
    }

    /// <summary>
    /// Makes <paramref name="strength"/> active for <paramref name="generator"/> (loading its adapter if needed). The
    /// returned lease owns the generator: disposing it disposes the generator, then lets the adapter go.
    /// </summary>
    public IDisposable Activate(Generator generator, float strength)
    {
        if (!float.IsFinite(strength)) throw new ArgumentOutOfRangeException(nameof(strength), strength, "a strength must be finite");
        lock (_lock)
        {
            var entry = Acquire(strength);
            try { generator.SetActiveAdapter(_adapters, entry.Name); }
            catch
            {
                Release(entry);
                throw;
            }
            return new Lease(this, entry, generator);
        }
    }

    private Entry Acquire(float strength)
    {
        if (!_loaded.TryGetValue(strength, out var entry))
        {
            if (_loaded.Count >= Capacity) UnloadIdle(_loaded.Count - Capacity + 1);
            // Named by the float's bits: distinct strengths never share a name, and the name is file-safe.
            var name = $"{_prefix}strength-{BitConverter.SingleToUInt32Bits(strength):x8}";
            var file = Path.Combine(_folder, name + ".onnx_adapter");
            OnnxAdapterFile.Write(file, [StrengthAdapter.Parameter(strength)]);
            try { _adapters.LoadAdapter(file, name); }
            catch
            {
                Delete(file);
                throw;
            }
            entry = new Entry(name, file);
            _loaded[strength] = entry;
        }
        entry.Users++;
        entry.LastUsed = ++_clock;
        return entry;
    }

    private void Release(Entry entry)
    {
        entry.Users--;
        entry.LastUsed = ++_clock;
        if (_loaded.Count > Capacity) UnloadIdle(_loaded.Count - Capacity);
    }

    /// <summary>Unloads up to <paramref name="count"/> adapters no generator holds, least recently used first.</summary>
    private void UnloadIdle(int count)
    {
        foreach (var (strength, entry) in _loaded.Where(e => e.Value.Users == 0).OrderBy(e => e.Value.LastUsed).Take(count).ToList())
        {
            _adapters.UnloadAdapter(entry.Name);
            _loaded.Remove(strength);
            Delete(entry.File);
        }
    }

    private static void Delete(string file)
    {
        try { File.Delete(file); }
        catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var entry in _loaded.Values) Delete(entry.File);
            _loaded.Clear();
            _adapters.Dispose();
        }
    }

    private sealed class Entry(string name, string file)
    {
        public string Name { get; } = name;
        public string File { get; } = file;
        public int Users { get; set; }
        public long LastUsed { get; set; }
    }

    private sealed class Lease(StrengthAdapters owner, Entry entry, Generator generator) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            lock (owner._lock)
            {
                if (_disposed) return;
                _disposed = true;
                generator.Dispose();
                owner.Release(entry);
            }
        }
    }
}
