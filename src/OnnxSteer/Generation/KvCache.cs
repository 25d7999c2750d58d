using Microsoft.ML.OnnxRuntime;
using OnnxSteer.Runtime;

namespace OnnxSteer.Generation;

/// <summary>
/// The past keys and values of one sequence: per layer, the present tensors of the previous step (kept where ORT put
/// them, fed back without copying). Starts empty (past length 0). Dispose it when the sequence is done.
/// </summary>
internal sealed class KvCache : IDisposable
{
    private readonly OrtValue[] _keys;
    private readonly OrtValue[] _values;

    /// <summary>Tokens the cache covers.</summary>
    public int Length { get; private set; }

    internal KvCache(DecoderLayout layout)
    {
        _keys = new OrtValue[layout.Layers];
        _values = new OrtValue[layout.Layers];
        long[] empty = [1, layout.KvHeads, 0, layout.HeadSize];
        for (var l = 0; l < layout.Layers; l++)
        {
            _keys[l] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, layout.KvType, empty);
            _values[l] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, layout.KvType, empty);
        }
    }

    internal OrtValue Key(int layer) => _keys[layer];
    internal OrtValue Value(int layer) => _values[layer];

    /// <summary>Replaces the cache with a step's present tensors (taking ownership) covering <paramref name="length"/> tokens.</summary>
    internal void Replace(OrtValue[] keys, OrtValue[] values, int length)
    {
        for (var l = 0; l < _keys.Length; l++)
        {
            _keys[l].Dispose();
            _values[l].Dispose();
            _keys[l] = keys[l];
            _values[l] = values[l];
        }
        Length = length;
    }

    public void Dispose()
    {
        foreach (var v in _keys) v?.Dispose();
        foreach (var v in _values) v?.Dispose();
    }
}
