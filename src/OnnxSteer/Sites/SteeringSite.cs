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
public static class SiteKinds
{
    /// <summary>The name of <paramref name="kind"/>: attn, mlp or mlp-out.</summary>
    public static string ToName(this SiteKind kind) => kind switch
    {
        SiteKind.Attn => "attn",
        SiteKind.Mlp => "mlp",
        SiteKind.MlpOut => "mlp-out",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The kind named <paramref name="name"/> (case and surrounding spaces ignored; mlp_out is mlp-out).</summary>
    /// <exception cref="FormatException">No kind has that name.</exception>
    public static SiteKind Parse(string name) => TryParse(name, out var kind)
        ? kind
        : throw new FormatException($"unknown site kind '{name}': expected attn, mlp or mlp-out");

    /// <summary>As <see cref="Parse"/>, false instead of an exception.</summary>
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
public sealed record SteeringSite(
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
    public string? BiasAddNode { get; internal init; }

    /// <summary>
    /// The node whose edge carries the value when it is neither the projection nor <see cref="BiasAddNode"/>: for int8
    /// dynamic quantisation, the DynamicQuantizeLinear that reads an attn/mlp value, or the Mul that writes an mlp-out
    /// value. Null otherwise.
    /// </summary>
    public string? EdgeNode { get; internal init; }

    /// <summary>What in the graph's structure identified the site, e.g. "input from com.microsoft.MultiHeadAttention '...'".</summary>
    public string? Evidence { get; internal init; }

    /// <summary>
    /// Empty for a site of the main graph. For a site inside the branches of a main-graph If (an Optimum merged
    /// decoder: one If on use_cache_branch whose two bodies read the same weights), where it lives in each branch; the
    /// site's own <see cref="ProjectionNode"/>, <see cref="ValueName"/> and <see cref="BiasAddNode"/> are those of the
    /// first branch. Patching edits every branch alike; recording reads the value through the If's outputs.
    /// </summary>
    public IReadOnlyList<SiteBranch> Branches { get; internal init; } = [];

    /// <summary>True when the site lives inside If branches (<see cref="Branches"/>), not in the main graph.</summary>
    public bool InBranches => Branches.Count > 0;
}

/// <summary>Where a site lives inside one branch of a main-graph If.</summary>
/// <param name="IfNode">The If node's name in the main graph.</param>
/// <param name="Attribute">The branch: <c>then_branch</c> or <c>else_branch</c>.</param>
/// <param name="ProjectionNode">The projection node's name inside that branch.</param>
/// <param name="ValueName">The steered value inside that branch.</param>
/// <param name="BiasAddNode">The bias Add inside that branch (mlp-out behind a constant bias), or null.</param>
public sealed record SiteBranch(string IfNode, string Attribute, string ProjectionNode, string ValueName, string? BiasAddNode);
