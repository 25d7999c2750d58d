using System.Text.Json.Serialization;

namespace OnnxSteer.Profiles;

/// <summary>
/// Per-site logistic probes fitted by <c>profile --probes</c> (DSAS, arXiv 2512.03661): each predicts, from one site's
/// activation at one token, the probability that the text is heading for the undesired (negative) answer. A dynamic
/// patch computes it in the graph at every position and scales that site's steering by it. An optional field of the
/// profile: profiles without it load as before.
/// </summary>
public sealed class ProbeSet
{
    /// <summary>What the probes read: the site's own activation (the value the steering acts on) at the last token.</summary>
    [JsonPropertyOrder(0)] public string Activation { get; set; } = LastTokenSiteActivation;

    /// <summary>The class the probe's probability is for: always <c>negative</c> (the answer steering moves away from).</summary>
    [JsonPropertyOrder(1)] public string Predicts { get; set; } = "negative";

    /// <summary>L2 penalty on the weights of the standardized features (mean log-loss + l2/2·|w|²).</summary>
    [JsonPropertyOrder(2)] public double L2 { get; set; }

    /// <summary>Pair j (0-based, within the profiled shard) is held out from the fit when j mod HeldOutEvery = HeldOutEvery − 1.</summary>
    [JsonPropertyOrder(3)] public int HeldOutEvery { get; set; }

    /// <summary>Pairs the probes were fitted on.</summary>
    [JsonPropertyOrder(4)] public int TrainPairs { get; set; }

    /// <summary>Pairs the accuracy was measured on (never used in the fit).</summary>
    [JsonPropertyOrder(5)] public int HeldOutPairs { get; set; }

    /// <summary>One probe per recorded site, in the profile's site order.</summary>
    [JsonPropertyOrder(6)] public List<LayerProbe> Sites { get; set; } = [];

    /// <summary>The only activation choice this version writes.</summary>
    public const string LastTokenSiteActivation = "site-last-token";

    /// <summary>The probe of site <paramref name="id"/>, or null.</summary>
    public LayerProbe? Of(string id) => Sites.FirstOrDefault(p => p.Site == id);
}

/// <summary>
/// One site's probe in the activation's own coordinates (standardization folded in): p(negative | h) = sigmoid(w·h + b).
/// </summary>
public sealed class LayerProbe
{
    /// <summary>Site identifier, e.g. <c>mlp.3</c>.</summary>
    [JsonPropertyOrder(0)] public string Site { get; set; } = "";
    /// <summary>Decoder layer, 0-based.</summary>
    [JsonPropertyOrder(1)] public int Layer { get; set; }
    /// <summary>w, one entry per unit of the site.</summary>
    [JsonPropertyOrder(2)] public float[] Weights { get; set; } = [];
    /// <summary>b.</summary>
    [JsonPropertyOrder(3)] public double Bias { get; set; }
    /// <summary>Fraction of training sequences classified correctly.</summary>
    [JsonPropertyOrder(4)] public double TrainAccuracy { get; set; }
    /// <summary>Fraction of held-out sequences (both answers of each held-out pair) classified correctly.</summary>
    [JsonPropertyOrder(5)] public double HeldOutAccuracy { get; set; }
}
