using System.Text.RegularExpressions;

namespace OnnxSteer.Sites;

/// <summary>
/// What node and tensor names suggest: the layer number (<c>/model/layers.3/...</c>, <c>model.layers.3.</c>,
/// <c>transformer.h.3.</c>, <c>blocks.3</c>) and whether a projection is named like an attention output projection or
/// an MLP down projection. Names are hints only: structure decides what is a site.
/// </summary>
internal static partial class LayerNames
{
    [GeneratedRegex(@"(?:^|[/._])(?:layers|layer|h|blocks|block)[._/](\d+)(?=[/._]|$)", RegexOptions.IgnoreCase)]
    private static partial Regex LayerPattern();

    private static readonly string[] AttnOutputTokens = ["o_proj", "out_proj", "attn/c_proj", "attn.c_proj", "attention/dense", "attention.dense", "attention/output"];
    private static readonly string[] MlpDownTokens = ["down_proj", "fc2", "mlp/c_proj", "mlp.c_proj", "dense_4h_to_h", "w2"];
    private static readonly string[] AttnTokens = ["attn", "attention", .. AttnOutputTokens];
    private static readonly string[] MlpTokens = ["mlp", "ffn", "feed_forward", "feedforward", .. MlpDownTokens];

    /// <summary>The layer number in <paramref name="name"/>, or null when it names none.</summary>
    public static int? LayerOf(string? name)
    {
        if (string.IsNullOrEmpty(name)) return null;
        var match = LayerPattern().Match(name);
        return match.Success && int.TryParse(match.Groups[1].Value, out var layer) ? layer : null;
    }

    /// <summary>
    /// The site kind a projection's name points to: <see cref="SiteKind.Attn"/> for attention names,
    /// <see cref="SiteKind.Mlp"/> for MLP names; null when the name says neither or both.
    /// </summary>
    public static SiteKind? KindOf(string? name)
    {
        if (string.IsNullOrEmpty(name)) return null;
        var lower = name.ToLowerInvariant();
        var attn = AttnTokens.Any(t => ContainsToken(lower, t));
        var mlp = MlpTokens.Any(t => ContainsToken(lower, t));
        return attn == mlp ? null : attn ? SiteKind.Attn : SiteKind.Mlp;
    }

    /// <summary>True when the name is that of an attention output projection (o_proj, out_proj, attn/c_proj, ...).</summary>
    public static bool LooksLikeAttnOutput(string? name) =>
        !string.IsNullOrEmpty(name) && AttnOutputTokens.Any(name.ToLowerInvariant().Contains);

    /// <summary>True when the name is that of an MLP down projection (down_proj, fc2, mlp/c_proj, ...).</summary>
    public static bool LooksLikeMlpDown(string? name) =>
        !string.IsNullOrEmpty(name) && MlpDownTokens.Any(t => ContainsToken(name.ToLowerInvariant(), t));

    // "w2" must be a whole name part, not a piece of "kw2x".
    private static bool ContainsToken(string lower, string token) =>
        token.Length > 2 ? lower.Contains(token) : Regex.IsMatch(lower, $@"(?:^|[/._]){Regex.Escape(token)}(?:[/._]|$)");
}
