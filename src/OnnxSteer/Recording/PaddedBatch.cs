namespace OnnxSteer.Recording;

/// <summary>
/// Token sequences right-padded into one batch: input_ids (pad id 0), attention_mask (1 for real tokens, 0 for
/// padding), position_ids (0..length−1, continuing into the padding), and the flat row index b·T + length_b − 1 of
/// each sequence's last real token (see <see cref="ActivationTaps.RowsInput"/>). With a causal model, a real token
/// never sees the padding to its right, so each recorded row is the sequence's own last token.
/// </summary>
internal sealed class PaddedBatch
{
    /// <summary>Number of sequences.</summary>
    public int Batch { get; }

    /// <summary>Padded length T (the longest sequence).</summary>
    public int Length { get; }

    /// <summary>[Batch * Length] token ids, row-major.</summary>
    public long[] InputIds { get; }

    /// <summary>[Batch * Length] 1 for real tokens, 0 for padding.</summary>
    public long[] AttentionMask { get; }

    /// <summary>[Batch * Length] positions.</summary>
    public long[] PositionIds { get; }

    /// <summary>[Batch] flat index of each sequence's last real token.</summary>
    public long[] LastRows { get; }

    /// <summary>[Batch, Batch * Length] row-major: 1/length_b at sequence b's real rows, 0 elsewhere (see
    /// <see cref="ActivationTaps.PoolInput"/>).</summary>
    public float[] MeanWeights()
    {
        var rows = Batch * Length;
        var weights = new float[Batch * rows];
        for (var b = 0; b < Batch; b++)
        {
            var length = (int)(LastRows[b] - (long)b * Length) + 1;
            for (var t = 0; t < length; t++) weights[b * rows + b * Length + t] = 1f / length;
        }
        return weights;
    }

    public PaddedBatch(IReadOnlyList<IReadOnlyList<int>> sequences, int padId = 0)
    {
        if (sequences.Count == 0) throw new ArgumentException("empty batch", nameof(sequences));
        if (sequences.Any(s => s.Count == 0)) throw new ArgumentException("empty sequence", nameof(sequences));
        Batch = sequences.Count;
        Length = sequences.Max(s => s.Count);
        InputIds = new long[Batch * Length];
        AttentionMask = new long[Batch * Length];
        PositionIds = new long[Batch * Length];
        LastRows = new long[Batch];
        for (var b = 0; b < Batch; b++)
        {
            var seq = sequences[b];
            for (var t = 0; t < Length; t++)
            {
                var at = b * Length + t;
                var real = t < seq.Count;
                InputIds[at] = real ? seq[t] : padId;
                AttentionMask[at] = real ? 1 : 0;
                PositionIds[at] = t;
            }
            LastRows[b] = (long)b * Length + seq.Count - 1;
        }
    }
}
