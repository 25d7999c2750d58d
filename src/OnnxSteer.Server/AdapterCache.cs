using Microsoft.ML.OnnxRuntimeGenAI;

namespace OnnxSteer.Server;

/// <summary>
/// The .onnx_adapter files one genai <see cref="Model"/> has been asked for, one per key: each written to a private
/// folder and loaded into the model's <see cref="Adapters"/> once, then activated per generator. At most
/// <see cref="Capacity"/> stay loaded: a new key unloads the least recently used one that no generator holds (when
/// every loaded one is in use, the set grows past the bound until they are released). The key is everything the
/// adapter sets — every strength it carries — so two settings never share an adapter.
/// </summary>
/// <remarks>
/// Every adapter operation — load, unload, activation, and the disposal of a generator that holds an adapter — runs
/// under one lock: genai counts an adapter's users with a plain integer and refuses to unload one still in use.
/// </remarks>
public sealed class AdapterCache<TKey> : IDisposable where TKey : notnull
{
    private readonly Adapters _adapters;
    private readonly string _folder;
    private readonly string _prefix;
    private readonly Func<TKey, string> _name;
    private readonly Action<TKey, string> _write;
    private readonly Lock _lock = new();
    private readonly Dictionary<TKey, Entry> _loaded = [];
    private long _clock;

    /// <summary>
    /// An adapter set for <paramref name="model"/>: <paramref name="write"/>(key, file) writes the adapter of a key, to a
    /// file named <paramref name="prefix"/> + <paramref name="name"/>(key) (distinct keys, distinct names) in <paramref name="folder"/>.
    /// </summary>
    internal AdapterCache(Model model, string folder, string prefix, int capacity, Func<TKey, string> name,
        Action<TKey, string> write)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _adapters = new Adapters(model);
        _folder = folder;
        _prefix = prefix;
        _name = name;
        _write = write;
        Capacity = capacity;
    }

    /// <summary>How many keys stay loaded when no generator holds them.</summary>
    public int Capacity { get; }

    /// <summary>The keys loaded now (for tests and logs).</summary>
    public IReadOnlyCollection<TKey> Loaded
    {
        get { lock (_lock) return [.. _loaded.Keys]; }
    }

    /// <summary>
    /// Makes <paramref name="key"/>'s adapter active for <paramref name="generator"/> (loading it if needed). The
    /// returned lease owns the generator: disposing it disposes the generator, then lets the adapter go.
    /// </summary>
    public IDisposable Activate(Generator generator, TKey key)
    {
        lock (_lock)
        {
            var entry = Acquire(key);
            try { generator.SetActiveAdapter(_adapters, entry.Name); }
            catch
            {
                Release(entry);
                throw;
            }
            return new Lease(this, entry, generator);
        }
    }

    private Entry Acquire(TKey key)
    {
        if (!_loaded.TryGetValue(key, out var entry))
        {
            if (_loaded.Count >= Capacity) UnloadIdle(_loaded.Count - Capacity + 1);
            var name = _prefix + _name(key);
            var file = Path.Combine(_folder, name + ".onnx_adapter");
            _write(key, file);
            try { _adapters.LoadAdapter(file, name); }
            catch
            {
                Delete(file);
                throw;
            }
            entry = new Entry(name, file);
            _loaded[key] = entry;
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
        foreach (var (key, entry) in _loaded.Where(e => e.Value.Users == 0).OrderBy(e => e.Value.LastUsed).Take(count).ToList())
        {
            _adapters.UnloadAdapter(entry.Name);
            _loaded.Remove(key);
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

    private sealed class Lease(AdapterCache<TKey> owner, Entry entry, Generator generator) : IDisposable
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
