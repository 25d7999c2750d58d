using OnnxSteer.Runtime;

namespace OnnxSteer.Tests.Import;

/// <summary>
/// Runs an exported Llama decoder (either style, any dtype) through ONNX Runtime for tests: one pass over a prompt with
/// an empty KV cache, or greedy decoding that feeds each step's present.N.* back as past_key_values.N.*.
/// The layer count, KV shape and I/O dtype are read from the session's signature.
/// </summary>
public sealed class OnnxLlamaRunner : IDisposable
{
    private readonly InferenceSession _session;
    private readonly int _layers, _kvHeads, _headSize;
    private readonly bool _fp16, _hasPositionIds;

    public OnnxLlamaRunner(string modelDirectory)
    {
        _session = new InferenceSession(Path.Combine(modelDirectory, "model.onnx"), new SessionOptions { IntraOpNumThreads = 1 });
        _layers = _session.InputNames.Count(n => n.StartsWith("past_key_values.", StringComparison.Ordinal) && n.EndsWith(".key", StringComparison.Ordinal));
        var past = _session.InputMetadata["past_key_values.0.key"];
        _kvHeads = (int)past.Dimensions[1];
        _headSize = (int)past.Dimensions[3];
        _fp16 = past.ElementDataType == TensorElementType.Float16;
        _hasPositionIds = _session.InputNames.Contains("position_ids");
    }

    /// <summary>Logits at every position of <paramref name="tokens"/>, run in one pass from an empty cache.</summary>
    public float[][] Logits(IReadOnlyList<int> tokens)
    {
        var pasts = EmptyPast();
        try
        {
            using var outputs = Step(tokens, 0, pasts);
            return SplitRows(outputs["logits"].ToFloatArray(), tokens.Count);
        }
        finally { foreach (var p in pasts) p.Dispose(); }
    }

    /// <summary>The prompt followed by up to <paramref name="newTokens"/> greedy tokens, decoded one at a time with the KV cache.</summary>
    public List<int> Greedy(IReadOnlyList<int> prompt, int newTokens, int? stopToken = null)
    {
        var ids = new List<int>(prompt);
        var pasts = EmptyPast();
        try
        {
            IReadOnlyList<int> feed = prompt;
            for (int i = 0; i < newTokens; i++)
            {
                using var outputs = Step(feed, ids.Count - feed.Count, pasts);
                var logits = outputs["logits"].ToFloatArray();
                int vocab = logits.Length / feed.Count;
                int next = ArgMax(logits.AsSpan((feed.Count - 1) * vocab, vocab));
                foreach (var p in pasts) p.Dispose();
                pasts = new List<OrtValue>();
                for (int l = 0; l < _layers; l++)
                {
                    pasts.Add(outputs.Detach($"present.{l}.key"));
                    pasts.Add(outputs.Detach($"present.{l}.value"));
                }
                ids.Add(next);
                if (next == stopToken) break;
                feed = [next];
            }
            return ids;
        }
        finally { foreach (var p in pasts) p.Dispose(); }
    }

    private List<OrtValue> EmptyPast()
    {
        var type = _fp16 ? TensorElementType.Float16 : TensorElementType.Float;
        var list = new List<OrtValue>();
        for (int i = 0; i < 2 * _layers; i++) list.Add(OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, type, [1, _kvHeads, 0, _headSize]));
        return list;
    }

    private RunOutputs Step(IReadOnlyList<int> tokens, int pastLength, List<OrtValue> pasts)
    {
        int total = pastLength + tokens.Count;
        var names = new List<string> { "input_ids", "attention_mask" };
        using var ids = OrtValue.CreateTensorValueFromMemory(tokens.Select(t => (long)t).ToArray(), [1, tokens.Count]);
        using var mask = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, total).ToArray(), [1, total]);
        using var positions = OrtValue.CreateTensorValueFromMemory(Enumerable.Range(pastLength, tokens.Count).Select(p => (long)p).ToArray(), [1, tokens.Count]);
        var values = new List<OrtValue> { ids, mask };
        if (_hasPositionIds) { names.Add("position_ids"); values.Add(positions); }
        for (int l = 0; l < _layers; l++)
        {
            names.Add($"past_key_values.{l}.key"); values.Add(pasts[2 * l]);
            names.Add($"past_key_values.{l}.value"); values.Add(pasts[2 * l + 1]);
        }
        return _session.RunNamed(names, values, _session.OutputNames);
    }

    private static float[][] SplitRows(float[] flat, int rows)
    {
        int width = flat.Length / rows;
        return Enumerable.Range(0, rows).Select(r => flat.AsSpan(r * width, width).ToArray()).ToArray();
    }

    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    public void Dispose() => _session.Dispose();
}
