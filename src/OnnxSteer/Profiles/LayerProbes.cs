using System.Text.Json.Serialization;

namespace OnnxSteer.Profiles;

/// <summary>
/// Per-site logistic probes fitted by <c>profile --probes</c> (DSAS, arXiv 2512.03661): each predicts, from one site's
/// activation at one token, the probability of the undesired behaviour. A dynamic patch computes it in the graph at
/// every position and scales that site's steering by it. An optional field of the profile: profiles without it load as
/// before. Two recipes: the paper's (undesired texts against a neutral control set, each text's activations averaged
/// over its tokens) and the older one (a pair's negative against its positive text, at the last token).
/// </summary>
public sealed class ProbeSet
{
    /// <summary>What the probes were fitted on: the site's own activation (the value the steering acts on) at the last
    /// token (<see cref="LastTokenSiteActivation"/>) or averaged over each text's tokens (<see cref="MeanTokenSiteActivation"/>).
    /// The gate reads it at every token either way.</summary>
    [JsonPropertyOrder(0), JsonInclude] public string Activation { get; internal set; } = LastTokenSiteActivation;

    /// <summary>The class the probe's probability is for: <c>negative</c> (a pair's negative answer, against its positive
    /// one) or <c>undesired</c> (undesired texts, against neutral ones).</summary>
    [JsonPropertyOrder(1), JsonInclude] public string Predicts { get; internal set; } = "negative";

    /// <summary>Where the texts came from, e.g. <c>pairs' negative texts vs neutral.jsonl</c>; null in older profiles (the pairs).</summary>
    [JsonPropertyOrder(2), JsonInclude] public string? Data { get; internal set; }

    /// <summary>L2 penalty on the weights of the standardized features (mean log-loss + l2/2·|w|²).</summary>
    [JsonPropertyOrder(3), JsonInclude] public double L2 { get; internal set; }

    /// <summary>Principal components of the standardized features the probe was fitted on (folded back into the weights); null = all features.</summary>
    [JsonPropertyOrder(4), JsonInclude] public int? Pca { get; internal set; }

    /// <summary>Text j of each class (0-based, in order) is held out from the fit when j mod HeldOutEvery = HeldOutEvery − 1
    /// (for texts from pairs: pair j, both its texts).</summary>
    [JsonPropertyOrder(5), JsonInclude] public int HeldOutEvery { get; internal set; }

    /// <summary>Pairs the probes were fitted on (texts from pairs only; else 0).</summary>
    [JsonPropertyOrder(6), JsonInclude] public int TrainPairs { get; internal set; }

    /// <summary>Pairs the accuracy was measured on (never used in the fit; texts from pairs only, else 0).</summary>
    [JsonPropertyOrder(7), JsonInclude] public int HeldOutPairs { get; internal set; }

    /// <summary>Texts the probes were fitted on (both classes); null in older profiles (2 × <see cref="TrainPairs"/>).</summary>
    [JsonPropertyOrder(8), JsonInclude] public int? TrainTexts { get; internal set; }

    /// <summary>Texts the accuracy was measured on; null in older profiles (2 × <see cref="HeldOutPairs"/>).</summary>
    [JsonPropertyOrder(9), JsonInclude] public int? HeldOutTexts { get; internal set; }

    /// <summary>One probe per recorded site, in the profile's site order.</summary>
    [JsonPropertyOrder(10), JsonInclude] public IReadOnlyList<LayerProbe> Sites { get; internal set; } = [];

    /// <summary>Fitted on each text's last-token activation.</summary>
    public const string LastTokenSiteActivation = "site-last-token";

    /// <summary>Fitted on each text's activations averaged over its tokens (DSAS).</summary>
    public const string MeanTokenSiteActivation = "site-token-mean";

    /// <summary>The probe of site <paramref name="id"/>, or null.</summary>
    public LayerProbe? Of(string id) => Sites.FirstOrDefault(p => p.Site == id);
}

/// <summary>
/// One site's probe in the activation's own coordinates (standardization folded in): p(negative | h) = sigmoid(w·h + b).
/// </summary>
public sealed class LayerProbe
{
    /// <summary>Site identifier, e.g. <c>mlp.3</c>.</summary>
    [JsonPropertyOrder(0), JsonInclude] public string Site { get; internal set; } = "";
    /// <summary>Decoder layer, 0-based.</summary>
    [JsonPropertyOrder(1), JsonInclude] public int Layer { get; internal set; }
    /// <summary>w, one entry per unit of the site.</summary>
    [JsonPropertyOrder(2), JsonInclude] public float[] Weights { get; internal set; } = [];
    /// <summary>b.</summary>
    [JsonPropertyOrder(3), JsonInclude] public double Bias { get; internal set; }
    /// <summary>Fraction of training sequences classified correctly.</summary>
    [JsonPropertyOrder(4), JsonInclude] public double TrainAccuracy { get; internal set; }
    /// <summary>Fraction of held-out texts (for pairs: both answers of each held-out pair) classified correctly.</summary>
    [JsonPropertyOrder(5), JsonInclude] public double HeldOutAccuracy { get; internal set; }
}
