namespace OnnxSteer.Sites;

/// <summary>Where in a decoder layer the steered scalars live (see docs: method.md, "Sites").</summary>
public enum SiteKind
{
    /// <summary>Input of the attention output projection (o_proj): concatenated head outputs.</summary>
    Attn,
    /// <summary>Input of the MLP down projection: act(gate(x)) * up(x), or act(fc1(x)).</summary>
    Mlp,
    /// <summary>Output of the MLP down projection, before the residual add.</summary>
    MlpOut,
}

/// <summary>Text forms of <see cref="SiteKind"/> used on the command line and in JSON: attn, mlp, mlp-out.</summary>
internal static class SiteKinds
{
    public static string ToName(this SiteKind kind) => kind switch
    {
        SiteKind.Attn => "attn",
        SiteKind.Mlp => "mlp",
        SiteKind.MlpOut => "mlp-out",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static SiteKind Parse(string name) => TryParse(name, out var kind)
        ? kind
        : throw new FormatException($"unknown site kind '{name}': expected attn, mlp or mlp-out");

    public static bool TryParse(string name, out SiteKind kind)
    {
        switch (name.Trim().ToLowerInvariant())
        {
            case "attn": kind = SiteKind.Attn; return true;
            case "mlp": kind = SiteKind.Mlp; return true;
            case "mlp-out" or "mlp_out" or "mlpout": kind = SiteKind.MlpOut; return true;
            default: kind = default; return false;
        }
    }
}

/// <summary>
/// One steering site found in a graph: a value of width <see cref="Width"/> whose scalars are steered.
/// For <see cref="SiteKind.Attn"/> and <see cref="SiteKind.Mlp"/>, <see cref="ValueName"/> is the projection's
/// activation input; for <see cref="SiteKind.MlpOut"/> it is the projection's output, or, when a MatMul is followed by
/// an Add of a constant bias, that Add's output (see <see cref="BiasAddNode"/>). Sites are found by
/// <see cref="SiteFinder"/>; <see cref="ProjectionNode"/> is empty for an unnamed node.
/// </summary>
/// <param name="Kind">The site kind.</param>
/// <param name="Layer">Decoder layer index, 0-based.</param>
/// <param name="Width">Number of scalars (the last dimension of the value).</param>
/// <param name="ElementType">ONNX element type of the value (TensorProto.DataType as int).</param>
/// <param name="ProjectionNode">Name of the projection node (MatMul, MatMulNBits or Gemm).</param>
/// <param name="ProjectionOpType">Op type of the projection node.</param>
/// <param name="ValueName">The graph value that holds the steered activation.</param>
internal sealed record SteeringSite(
    SiteKind Kind,
    int Layer,
    int Width,
    int ElementType,
    string ProjectionNode,
    string ProjectionOpType,
    string ValueName)
{
    /// <summary>A stable identifier such as <c>attn.3</c> or <c>mlp-out.0</c>.</summary>
    public string Id => $"{Kind.ToName()}.{Layer}";

    /// <summary>
    /// For <see cref="SiteKind.MlpOut"/> when the down projection is a MatMul followed by an Add of a constant bias:
    /// that Add's name. <see cref="ValueName"/> is then the Add's output (the projection's output as the residual add
    /// consumes it, like a hook on a biased nn.Linear); null otherwise.
    /// </summary>
    public string? BiasAddNode { get; init; }

    /// <summary>What in the graph's structure identified the site, e.g. "input from com.microsoft.MultiHeadAttention '...'".</summary>
    public string? Evidence { get; init; }
}
