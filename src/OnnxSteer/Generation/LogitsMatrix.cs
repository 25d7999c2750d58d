namespace OnnxSteer.Generation;

/// <summary>Logits of a full-sequence forward pass: one row of <see cref="VocabSize"/> floats per position.</summary>
internal sealed class LogitsMatrix
{
    /// <summary>Row-major data, <see cref="Positions"/> × <see cref="VocabSize"/>.</summary>
    public float[] Data { get; }

    /// <summary>Number of positions (rows).</summary>
    public int Positions { get; }

    /// <summary>Vocabulary size (columns).</summary>
    public int VocabSize { get; }

    public LogitsMatrix(float[] data, int positions, int vocabSize)
    {
        if (data.Length != (long)positions * vocabSize)
            throw new ArgumentException($"{data.Length} values do not make {positions} rows of {vocabSize}");
        (Data, Positions, VocabSize) = (data, positions, vocabSize);
    }

    /// <summary>The logits predicting the token after position <paramref name="position"/>.</summary>
    public ReadOnlySpan<float> Row(int position)
    {
        if ((uint)position >= (uint)Positions) throw new ArgumentOutOfRangeException(nameof(position));
        return Data.AsSpan(position * VocabSize, VocabSize);
    }

    /// <summary>Log-softmax of row <paramref name="position"/> (in double, for scoring).</summary>
    public double[] LogSoftmax(int position)
    {
        var row = Row(position);
        double max = double.NegativeInfinity;
        foreach (var v in row) if (v > max) max = v;
        double sum = 0;
        foreach (var v in row) sum += Math.Exp(v - max);
        var logZ = max + Math.Log(sum);
        var result = new double[row.Length];
        for (var i = 0; i < row.Length; i++) result[i] = row[i] - logZ;
        return result;
    }
}
