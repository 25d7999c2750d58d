using Ort = Microsoft.ML.OnnxRuntime;

namespace OnnxSteer.Tests.Hosts;

/// <summary>
/// Greedy generation in a plain ONNX Runtime session (Microsoft.ML.OnnxRuntime 1.32, as a user would write it, nothing of
/// OnnxSteer's): each step runs the whole sequence with an empty past and takes the arg-max of the last position's
/// logits. Handles fp32 models with input_ids / attention_mask / position_ids / past_key_values.* inputs (both export styles).
/// </summary>
internal sealed class PlainOrtGreedy : IDisposable
{
    private readonly Ort.InferenceSession _session;

    public PlainOrtGreedy(string modelFile)
    {
        // Errors only: ONNX Runtime warns once per overridable initializer that it cannot be constant-folded.
        using var options = new Ort.SessionOptions { LogSeverityLevel = Ort.OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        _session = new Ort.InferenceSession(modelFile, options);
    }

    /// <summary>
    /// The session's overridable initializers: ONNX Runtime lists an initializer that is also a graph input here, not
    /// among <see cref="Ort.InferenceSession.InputMetadata"/>, and accepts it as a feed by name.
    /// </summary>
    public IReadOnlyList<string> OverridableInitializers => _session.OverridableInitializerMetadata.Keys.ToList();

    /// <summary>Generates <paramref name="count"/> tokens; <paramref name="extraFeeds"/> go into every run as given.</summary>
    public IReadOnlyList<int> Generate(IReadOnlyList<int> prompt, int count, IReadOnlyDictionary<string, float[]>? extraFeeds = null,
        Ort.OrtLoraAdapter? adapter = null)
    {
        using var runOptions = new Ort.RunOptions();
        if (adapter is not null) runOptions.AddActiveLoraAdapter(adapter);
        var sequence = prompt.Select(i => (long)i).ToList();
        var generated = new List<int>();
        for (var step = 0; step < count; step++)
        {
            var feeds = Feeds(sequence, extraFeeds);
            try
            {
                using var outputs = _session.Run(runOptions, feeds.Keys.ToArray(), feeds.Values.ToArray(), ["logits"]);
                var logits = outputs[0].GetTensorDataAsSpan<float>();
                var vocab = (int)outputs[0].GetTensorTypeAndShape().Shape[^1];
                var last = logits[^vocab..];
                var next = 0;
                for (var v = 1; v < vocab; v++) if (last[v] > last[next]) next = v;
                generated.Add(next);
                sequence.Add(next);
            }
            finally
            {
                foreach (var v in feeds.Values) v.Dispose();
            }
        }
        return generated;
    }

    private Dictionary<string, Ort.OrtValue> Feeds(List<long> ids, IReadOnlyDictionary<string, float[]>? extra)
    {
        var n = ids.Count;
        var feeds = new Dictionary<string, Ort.OrtValue>();
        foreach (var (name, meta) in _session.InputMetadata)
        {
            feeds[name] = name switch
            {
                "input_ids" => Ort.OrtValue.CreateTensorValueFromMemory(ids.ToArray(), [1, n]),
                "attention_mask" => Ort.OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, n).ToArray(), [1, n]),
                "position_ids" => Ort.OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, n).Select(i => (long)i).ToArray(), [1, n]),
                // An empty past: batch 1, the fixed head dimensions, 0 past positions.
                _ when name.StartsWith("past_key_values", StringComparison.Ordinal) =>
                    Ort.OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [1, meta.Dimensions[1], 0, meta.Dimensions[3]]),
                _ => throw new InvalidOperationException($"unexpected input {name}"),
            };
        }
        foreach (var (name, data) in extra ?? new Dictionary<string, float[]>())
            feeds[name] = Ort.OrtValue.CreateTensorValueFromMemory(data, [data.Length]);
        return feeds;
    }

    public void Dispose() => _session.Dispose();
}
