using Microsoft.ML.OnnxRuntime;
using System.Runtime.CompilerServices;
using OnnxSteer.Runtime;

namespace OnnxSteer.Generation;

/// <summary>
/// Generates tokens from a <see cref="DecoderModel"/>: the prompt in one step, then one token per step over the KV
/// cache (or, with <see cref="GenerationOptions.UseKvCache"/> off, a full-sequence forward each step). Stops at a stop
/// token, the token limit or the context length. Tokens stream through a callback or an (async) enumerable as they come.
/// </summary>
internal sealed class Generator(DecoderModel model)
{
    /// <summary>The model generated from.</summary>
    public DecoderModel Model { get; } = model;

    /// <summary>Generates after <paramref name="promptIds"/>; <paramref name="onToken"/> sees each id as it is produced.</summary>
    public GenerationResult Generate(IReadOnlyList<int> promptIds, GenerationOptions options, Action<int>? onToken = null, CancellationToken cancellationToken = default)
    {
        var stop = new StopBox();
        var generated = new List<int>();
        foreach (var id in Stream(promptIds, options, stop, cancellationToken))
        {
            generated.Add(id);
            onToken?.Invoke(id);
        }
        return new GenerationResult(promptIds.ToArray(), generated, stop.Reason);
    }

    /// <summary>The generated ids, produced lazily one per step; disposing the enumerator frees the cache.</summary>
    public IEnumerable<int> Stream(IReadOnlyList<int> promptIds, GenerationOptions options, CancellationToken cancellationToken = default) =>
        Stream(promptIds, options, new StopBox(), cancellationToken);

    /// <summary>The generated ids as an async stream; each step runs on the thread pool.</summary>
    public async IAsyncEnumerable<int> StreamAsync(IReadOnlyList<int> promptIds, GenerationOptions options, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var enumerator = Stream(promptIds, options, cancellationToken).GetEnumerator();
        while (await Task.Run(enumerator.MoveNext, cancellationToken).ConfigureAwait(false))
            yield return enumerator.Current;
    }

    private IEnumerable<int> Stream(IReadOnlyList<int> promptIds, GenerationOptions options, StopBox stop, CancellationToken cancellationToken)
    {
        options.Validate();
        if (promptIds.Count == 0) throw new InvalidParameterException("promptIds", "the prompt has no tokens; generation needs at least one (e.g. BOS)");
        var eos = new HashSet<int>(options.EosTokenIds ?? Model.Layout.EosTokenIds);
        var contextLength = Model.Layout.ContextLength ?? int.MaxValue;
        if (promptIds.Count >= contextLength)
            throw new InvalidParameterException("promptIds", $"the prompt has {promptIds.Count} tokens but the model's context length is {contextLength}");
        var sampler = new TokenSampler(options);
        var useCache = options.UseKvCache && Model.Layout.HasKvCache;
        var sequence = new List<int>(promptIds);

        using var runOptions = new RunOptions();
        using var cancel = cancellationToken.Register(() => runOptions.Terminate = true); // stops a long run mid-graph
        using var cache = useCache ? Model.CreateCache() : null;
        stop.Reason = StopReason.TokenLimit;
        IReadOnlyList<int> pending = promptIds;
        for (var produced = 0; produced < options.MaxNewTokens; produced++)
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
