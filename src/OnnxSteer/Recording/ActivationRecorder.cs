using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;

namespace OnnxSteer.Recording;

/// <summary>
/// Runs token sequences through a model in ONNX Runtime, in one pass without KV cache, and returns each sequence's
/// last-token activation at every tapped site (see <see cref="ActivationTaps"/>). Sequences are right-padded into
/// one batch (<see cref="PaddedBatch"/>). The model may take input_ids, attention_mask, position_ids and
/// past_key_values.* (fed empty, past length 0); any other input is refused.
/// </summary>
internal sealed class ActivationRecorder : IDisposable
{
    private readonly InferenceSession _session;
    private readonly ActivationTaps _taps;
    private readonly List<ValueInfoProto> _inputs;

    /// <summary>The sites recorded, in the order rows are returned.</summary>
    public IReadOnlyList<SteeringSite> Sites => _taps.Sites;

    /// <summary>Names of the inputs the model takes, for messages.</summary>
    public IReadOnlyList<string> InputNames => _inputs.Select(i => i.Name).ToList();

    private readonly TapPooling _pooling;

    public ActivationRecorder(OnnxModel model, IReadOnlyList<SteeringSite> sites, RuntimeSettings? settings = null, TapPooling pooling = TapPooling.LastToken)
    {
        _pooling = pooling;
        _taps = ActivationTaps.Build(model, sites, pooling);
        var initializers = model.Graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        _inputs = _taps.Model.Graph.Input.Where(i => !initializers.Contains(i.Name) && i.Name is not (ActivationTaps.RowsInput or ActivationTaps.PoolInput)).ToList();
        foreach (var input in _inputs)
            if (input.Name == "inputs_embeds") throw new InvalidModelException(InputsEmbedsRefusal(model.FilePath));
            else if (!IsKnownInput(input.Name))
                throw new InvalidModelException(
                    $"{model.FilePath}: input '{input.Name}' is not one profiling can feed (input_ids, attention_mask, position_ids, past_key_values.*, use_cache_branch)");
        if (!_inputs.Any(i => i.Name == "input_ids")) throw new InvalidModelException($"{model.FilePath}: the model has no input_ids input");
        _session = (settings ?? RuntimeSettings.Default).OpenSession(_taps.ToBytes(), model.BaseDirectory, out _, model.FilePath ?? "(model)");
    }

    /// <summary>Why a decoder fed <c>inputs_embeds</c> (a multi-file genai pipeline's, whose embedding model is another
    /// file) is not profiled: the pairs are text, and the embeddings of their tokens come from that other model.</summary>
    public static string InputsEmbedsRefusal(string? file) =>
        $"{file}: the model takes inputs_embeds, not input_ids (the decoder of a multi-file pipeline: genai_config.json's embedding model computes them), " +
        "and profiling feeds token ids only; profile an export of the same decoder that takes input_ids, then patch this file with that profile (its fingerprint differs: force it)";

    /// <summary>The input of an Optimum merged decoder that chooses the branch with past.</summary>
    private const string UseCacheBranch = "use_cache_branch";

    private static bool IsKnownInput(string name) =>
        name is "input_ids" or "attention_mask" or "position_ids" or UseCacheBranch || name.StartsWith("past_key_values.", StringComparison.Ordinal) || name.StartsWith("past_", StringComparison.Ordinal);

    /// <summary>
    /// Runs <paramref name="sequences"/> as one batch; result[b][s] is sequence b's last-token (or, pooled, mean)
    /// activation at site s.
    /// </summary>
    public float[][][] Record(IReadOnlyList<IReadOnlyList<int>> sequences)
    {
        var batch = new PaddedBatch(sequences);
        var values = new List<OrtValue>();
        try
        {
            var names = new List<string>();
            long[] ids2 = [batch.Batch, batch.Length];
            foreach (var input in _inputs)
            {
                names.Add(input.Name);
                values.Add(input.Name switch
                {
                    "input_ids" => OrtValue.CreateTensorValueFromMemory(batch.InputIds, ids2),
                    "attention_mask" => OrtValue.CreateTensorValueFromMemory(batch.AttentionMask, ids2),
                    "position_ids" => OrtValue.CreateTensorValueFromMemory(batch.PositionIds, ids2),
                    // A merged decoder: the branch without past, as the past is empty.
                    UseCacheBranch => OrtValue.CreateTensorValueFromMemory(new[] { false }, [1]),
                    _ => EmptyPast(input, batch.Batch),
                });
            }
            if (_pooling == TapPooling.Mean)
            {
                names.Add(ActivationTaps.PoolInput);
                values.Add(OrtValue.CreateTensorValueFromMemory(batch.MeanWeights(), [batch.Batch, (long)batch.Batch * batch.Length]));
            }
            else
            {
                names.Add(ActivationTaps.RowsInput);
                values.Add(OrtValue.CreateTensorValueFromMemory(batch.LastRows, [batch.Batch]));
            }
            using var outputs = _session.RunNamed(names, values, _taps.OutputNames);
            var result = new float[batch.Batch][][];
            for (var b = 0; b < batch.Batch; b++) result[b] = new float[_taps.Sites.Count][];
            for (var s = 0; s < _taps.Sites.Count; s++)
            {
                var width = _taps.Sites[s].Width;
                var data = outputs[s].GetTensorDataAsSpan<float>();
                if (data.Length != batch.Batch * width)
                    throw new InvalidModelException($"site {_taps.Sites[s].Id}: expected {batch.Batch}×{width} values, the model produced {data.Length}");
                for (var b = 0; b < batch.Batch; b++) result[b][s] = data.Slice(b * width, width).ToArray();
            }
            return result;
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    /// <summary>An empty past (length 0) of the input's declared shape: batch dims get the batch size, others 0 when symbolic.</summary>
    private static OrtValue EmptyPast(ValueInfoProto input, int batch)
    {
        var tensor = input.Type?.TensorType ?? throw new InvalidModelException($"input '{input.Name}' is not a tensor");
        var dims = tensor.Shape?.Dim ?? throw new InvalidModelException($"input '{input.Name}' has no declared shape, so its empty past cannot be built");
        var shape = dims.Select((d, i) => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue
            ? d.DimValue
            : i == 0 || d.DimParam.Contains("batch", StringComparison.OrdinalIgnoreCase) ? batch : 0L).ToArray();
        if (!shape.Contains(0)) throw new InvalidModelException($"input '{input.Name}': no symbolic past-length dimension to set to 0");
        return OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, (TensorElementType)tensor.ElemType, shape);
    }

    public void Dispose() => _session.Dispose();
}
