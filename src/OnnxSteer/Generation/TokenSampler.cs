namespace OnnxSteer.Generation;

/// <summary>
/// Picks the next token from logits: greedy argmax, or sampling from softmax(logits / T) restricted to the top K and
/// then to the top-P nucleus, with a seeded generator so runs repeat.
/// </summary>
internal sealed class TokenSampler
{
    private readonly float _temperature;
    private readonly int _topK;
    private readonly float _topP;
    private readonly Random _random;

    public TokenSampler(float temperature = 0, int topK = 0, float topP = 1, int? seed = null)
    {
        _temperature = temperature;
        _topK = topK;
        _topP = topP;
        _random = seed is { } s ? new Random(s) : new Random();
    }

    /// <summary>From sampling settings.</summary>
    public TokenSampler(SamplingSettings sampling) : this(sampling.Temperature, sampling.TopK, sampling.TopP, sampling.Seed) { }

    /// <summary>The next token id.</summary>
    public int Next(ReadOnlySpan<float> logits)
    {
        if (_temperature <= 0) return ArgMax(logits);
        var (ids, probs) = Distribution(logits, _temperature, _topK, _topP);
        var r = _random.NextDouble();
        double cumulative = 0;
        for (var i = 0; i < ids.Length; i++)
        {
            cumulative += probs[i];
            if (r < cumulative) return ids[i];
        }
        return ids[^1]; // rounding left r just above the total
    }

    /// <summary>Index of the largest logit (the first on ties; NaN never wins).</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = -1;
        for (var i = 0; i < logits.Length; i++)
        {
            if (float.IsNaN(logits[i])) continue;
            if (best < 0 || logits[i] > logits[best]) best = i;
        }
        return best >= 0 ? best : throw new InvalidOperationException("every logit is NaN");
    }

    /// <summary>
    /// The sampling distribution: token ids by decreasing probability and their probabilities (summing to 1), after
    /// temperature, top-K and top-P (smallest prefix whose mass reaches P; at least one token).
    /// </summary>
    public static (int[] Ids, double[] Probabilities) Distribution(ReadOnlySpan<float> logits, float temperature, int topK, float topP)
    {
        if (temperature <= 0) throw new ArgumentOutOfRangeException(nameof(temperature));
        // Sort (logit descending, index ascending) as one ulong key per token: a primitive sort, fast on 100k vocabularies.
        var keys = new ulong[logits.Length];
        var count = 0;
        for (var i = 0; i < logits.Length; i++)
        {
            var v = logits[i];
            if (float.IsNaN(v) || float.IsNegativeInfinity(v)) continue;
            keys[count++] = ((ulong)~OrderedBits(v) << 32) | (uint)i;
        }
        if (count == 0) throw new InvalidOperationException("no finite logit to sample from");
        Array.Sort(keys, 0, count);
        if (topK > 0 && topK < count) count = topK;
        var order = new int[count];
        for (var i = 0; i < count; i++) order[i] = (int)(uint)keys[i];

        var max = (double)logits[order[0]] / temperature;
        var probs = new double[count];
        double sum = 0;
        for (var i = 0; i < count; i++) sum += probs[i] = Math.Exp(logits[order[i]] / (double)temperature - max);
        for (var i = 0; i < count; i++) probs[i] /= sum;

        if (topP < 1)
        {
            double mass = 0;
            var keep = 0;
            while (keep < count)
            {
                mass += probs[keep++];
                if (mass >= topP) break;
            }
            count = keep;
            for (var i = 0; i < count; i++) probs[i] /= mass;
        }
        return (order[..count], probs[..count]);
    }

    /// <summary>Float bits mapped so that unsigned order equals numeric order.</summary>
    private static uint OrderedBits(float v)
    {
        var bits = BitConverter.SingleToUInt32Bits(v);
        return (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u;
    }
}
