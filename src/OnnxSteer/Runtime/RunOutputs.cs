using Microsoft.ML.OnnxRuntime;

namespace OnnxSteer.Runtime;

/// <summary>The values a run returned, in the order their names were asked for; disposing releases them all.</summary>
internal sealed class RunOutputs : IReadOnlyList<OrtValue>, IDisposable
{
    private readonly OrtValue[] _values;

    /// <summary>The output names, parallel to the values.</summary>
    public IReadOnlyList<string> Names { get; }

    internal RunOutputs(IReadOnlyList<string> names, IEnumerable<OrtValue> values)
    {
        Names = names;
        _values = values.ToArray();
    }

    public OrtValue this[int index] => _values[index];

    /// <summary>The value of output <paramref name="name"/>.</summary>
    public OrtValue this[string name] => _values[IndexOf(name)];

    public int Count => _values.Length;

    /// <summary>
    /// Removes a value from this collection so that it outlives it (e.g. a KV-cache output fed to the next step);
    /// the caller then owns and disposes it.
    /// </summary>
    public OrtValue Detach(string name)
    {
        var i = IndexOf(name);
        var v = _values[i];
        _values[i] = null!;
        return v ?? throw new InvalidOperationException($"output {name} was already detached");
    }

    private int IndexOf(string name)
    {
        for (var i = 0; i < Names.Count; i++) if (Names[i] == name) return i;
        throw new KeyNotFoundException($"no output named {name} in this run");
    }

    public IEnumerator<OrtValue> GetEnumerator() => ((IEnumerable<OrtValue>)_values).GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    public void Dispose()
    {
        foreach (var v in _values) v?.Dispose();
    }
}
