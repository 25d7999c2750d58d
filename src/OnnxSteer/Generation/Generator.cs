using Microsoft.ML.OnnxRuntime;
using System.Runtime.CompilerServices;
using OnnxSteer.Runtime;

namespace OnnxSteer.Generation;

/// <summary>
/// OnnxSteer's own generation loop over a <see cref="DecoderModel"/> (plain ONNX Runtime, any export layout it opens):
/// the prompt in one step, then one token per step over the KV cache (or, with <see cref="UseKvCache"/> off, a
/// full-sequence forward each step), decoded as <see cref="SamplingSettings"/> say — the same settings
/// <see cref="GenaiHost"/> takes. Stops at a stop token, the token limit or the context length. Tokens stream through a
/// callback or an (async) enumerable as they come.
/// <para>
/// Who disposes what: the generator does not own <paramref name="model"/> (dispose the model after the generations);
/// each generation creates its KV cache and frees it when it ends or its enumeration is disposed. One generator may run
/// several generations one after another; for generations at once, use one model each.
/// </para>
/// </summary>
/// <param name="model">The model to generate from (not owned).</param>
public sealed class Generator(DecoderModel model)
{
    /// <summary>The model generated from.</summary>
    public DecoderModel Model { get; } = model;

    /// <summary>Stop tokens; null (the default) = the model's (<see cref="DecoderModel.EosTokenIds"/>); empty = never stop early.</summary>
    public IReadOnlyList<int>? EosTokenIds { get; init; }

    /// <summary>Use the KV cache (one new token per step; the default); false recomputes the whole sequence every step.</summary>
    public bool UseKvCache { get; init; } = true;

    /// <summary>Generates after <paramref name="promptIds"/>; <paramref name="onToken"/> sees each id as it is produced.</summary>
    /// <param name="promptIds">The prompt's token ids (at least one, e.g. the BOS).</param>
    /// <param name="sampling">Token limit and decoding.</param>
    /// <param name="onToken">Called with each new id as it is produced, or null.</param>
    /// <param name="cancellationToken">Stops the generation, also in the middle of a model run.</param>
    /// <exception cref="InvalidParameterException">A sampling value is out of range, the prompt is empty or reaches the context length.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="Runtime.OrtException">ONNX Runtime failed to run the model.</exception>
    public GenerationResult Generate(IReadOnlyList<int> promptIds, SamplingSettings sampling, Action<int>? onToken = null, CancellationToken cancellationToken = default)
    {
        var stop = new StopBox();
        var generated = new List<int>();
        foreach (var id in Stream(promptIds, sampling, stop, cancellationToken))
        {
            generated.Add(id);
            onToken?.Invoke(id);
        }
        return new GenerationResult(promptIds.ToArray(), generated, stop.Reason);
    }

    /// <summary>
    /// The generated ids, produced lazily one per step (the same ids and checks as <see cref="Generate"/>); disposing
    /// the enumerator frees the cache.
    /// </summary>
    public IEnumerable<int> Stream(IReadOnlyList<int> promptIds, SamplingSettings sampling, CancellationToken cancellationToken = default) =>
        Stream(promptIds, sampling, new StopBox(), cancellationToken);

    /// <summary>The generated ids as an async stream (as <see cref="Stream(IReadOnlyList{int}, SamplingSettings, CancellationToken)"/>); each step runs on the thread pool.</summary>
    public async IAsyncEnumerable<int> StreamAsync(IReadOnlyList<int> promptIds, SamplingSettings sampling, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var enumerator = Stream(promptIds, sampling, cancellationToken).GetEnumerator();
        while (await Task.Run(enumerator.MoveNext, cancellationToken).ConfigureAwait(false))
            yield return enumerator.Current;
    }

    private IEnumerable<int> Stream(IReadOnlyList<int> promptIds, SamplingSettings sampling, StopBox stop, CancellationToken cancellationToken)
    {
        sampling.Validate();
        if (promptIds.Count == 0) throw new InvalidParameterException("promptIds", "the prompt has no tokens; generation needs at least one (e.g. BOS)");
        var eos = new HashSet<int>(EosTokenIds ?? Model.Layout.EosTokenIds);
        var contextLength = Model.Layout.ContextLength ?? int.MaxValue;
        if (promptIds.Count >= contextLength)
            throw new InvalidParameterException("promptIds", $"the prompt has {promptIds.Count} tokens but the model's context length is {contextLength}");
        var sampler = new TokenSampler(sampling);
        var useCache = UseKvCache && Model.Layout.HasKvCache;
        var sequence = new List<int>(promptIds);

        using var runOptions = new RunOptions();
        using var cancel = cancellationToken.Register(() => runOptions.Terminate = true); // stops a long run mid-graph
        using var cache = useCache ? Model.CreateCache() : null;
        stop.Reason = StopReason.TokenLimit;
        IReadOnlyList<int> pending = promptIds;
        for (var produced = 0; produced < sampling.MaxTokens; produced++)
        {
            if (sequence.Count >= contextLength)
            {
                stop.Reason = StopReason.ContextLength;
                yield break;
            }
            cancellationToken.ThrowIfCancellationRequested();
            float[] logits;
            try
            {
                logits = useCache
                    ? Model.Step(pending, cache!, runOptions)
                    : LastRow(Model.Forward(sequence, runOptions));
            }
            catch (OrtException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
            var next = sampler.Next(logits);
            sequence.Add(next);
            pending = [next];
            yield return next;
            if (eos.Contains(next))
            {
                stop.Reason = StopReason.EndOfSequence;
                yield break;
            }
        }
    }

    private static float[] LastRow(LogitsMatrix m) => m.Row(m.Positions - 1).ToArray();

    private sealed class StopBox
    {
        public StopReason Reason { get; set; } = StopReason.TokenLimit;
    }
}
