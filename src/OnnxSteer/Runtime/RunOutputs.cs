namespace OnnxSteer.Runtime;

/// <summary>The values a run returned, in the order their names were asked for; disposing releases them all.</summary>
public sealed class RunOutputs : IReadOnlyList<OrtValue>, IDisposable
{
    private readonly OrtValue[] _values;

    /// <summary>The output names, parallel to the values.</summary>
    public IReadOnlyList<string> Names { get; }

    internal RunOutputs(IReadOnlyList<string> names, OrtValue[] values)
    {
        Names = names;
        _values = values;
    }

    public OrtValue this[int index] => _values[index];

    /// <summary>The value of output <paramref name="name"/>.</summary>
    public OrtValue this[string name]
    {
        get
        {
            for (var i = 0; i < Names.Count; i++) if (Names[i] == name) return _values[i];
            throw new KeyNotFoundException($"no output named {name} in this run");
        }
    }

    public int Count => _values.Length;

    /// <summary>
    /// Removes a value from this collection so that it outlives it (e.g. a KV-cache output fed to the next step);
    /// the caller then owns and disposes it.
    /// </summary>
    public OrtValue Detach(string name)
    {
        for (var i = 0; i < Names.Count; i++)
        {
            if (Names[i] != name) continue;
            var v = _values[i];
            _values[i] = null!;
            return v ?? throw new InvalidOperationException($"output {name} was already detached");
        }
        throw new KeyNotFoundException($"no output named {name} in this run");
    }

    public IEnumerator<OrtValue> GetEnumerator() => ((IEnumerable<OrtValue>)_values).GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    public void Dispose()
    {
        foreach (var v in _values) v?.Dispose();
    }
}
