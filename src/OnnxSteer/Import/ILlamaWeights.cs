namespace OnnxSteer.Import;

/// <summary>
/// Weights of a Llama decoder read a row segment at a time, so an exporter can stream tensors of any size
/// without holding a whole model (or even a whole tensor) in memory.
/// </summary>
internal interface ILlamaWeights
{
    /// <summary>The architecture.</summary>
    LlamaConfig Config { get; }

    /// <summary>
    /// Copies elements [<paramref name="colStart"/>, colStart + dest.Length) of row <paramref name="row"/> of a tensor
    /// (ONNX orientation, see <see cref="LlamaTensorShapes.Of"/>) into <paramref name="dest"/>.
    /// <paramref name="layer"/> is ignored for roles that are not per layer.
    /// </summary>
    void ReadRow(LlamaTensor tensor, int layer, int row, int colStart, Span<float> dest);
}
