namespace OnnxSteer.Import;

/// <summary>
/// Presents a grouped-query model as plain multi-head attention by repeating each key/value head for the query heads
/// that share it (query head h reads KV head h / groupSize), exactly as the attention would. Used where an attention
/// kernel cannot take fewer KV heads than query heads.
/// </summary>
internal sealed class RepeatedKvWeights(ILlamaWeights inner) : ILlamaWeights
{
    /// <inheritdoc />
    public LlamaConfig Config { get; } = inner.Config with { KvHeads = inner.Config.Heads };

    /// <inheritdoc />
    public void ReadRow(LlamaTensor tensor, int layer, int row, int colStart, Span<float> dest)
    {
        if (tensor is not (LlamaTensor.Key or LlamaTensor.Value))
        {
            inner.ReadRow(tensor, layer, row, colStart, dest);
            return;
        }
        var original = inner.Config;
        int hs = original.HeadSize;
        Span<float> full = original.KvDim <= 4096 ? stackalloc float[original.KvDim] : new float[original.KvDim];
        inner.ReadRow(tensor, layer, row, 0, full);
        for (int j = 0; j < dest.Length; j++)
        {
            int column = colStart + j, head = column / hs;
            dest[j] = full[(head / original.GroupSize) * hs + column % hs];
        }
    }
}
