using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Patching;

/// <summary>What to do when the model already carries steering recorded by onnxsteer.</summary>
public enum ExistingSteering
{
    /// <summary>Refuse: the error says to choose Replace or Stack.</summary>
    Refuse,
    /// <summary>Remove the earlier steering first, then apply the new one.</summary>
    Replace,
    /// <summary>Apply the new steering on top of the earlier one.</summary>
    Stack,
}

/// <summary>
/// One patch as the caller asked for it (the front door's patch settings), checked once. Every rule about the
/// parameters lives in the constructor, which runs before any file is read, so each bad request gets its one error and
/// nothing after it checks a parameter again. Immutable: a request that exists is valid.
/// </summary>
internal sealed class PatchRequest
{
    /// <summary>Checks the parameters (each named as the front door names it) and makes the request.</summary>
    /// <exception cref="InvalidParameterException">The first parameter that breaks a rule, named.</exception>
    public PatchRequest(int? k = null, double? alpha = null, IReadOnlyList<SiteKind>? sites = null, bool force = false,
        ExistingSteering existing = ExistingSteering.Refuse, double probeThreshold = PatchOptions.DefaultProbeThreshold,
        string? gatesFrom = null, bool fold = false, bool switchable = false, bool dynamic = false)
    {
        if (k is < 1) throw new InvalidParameterException("k", $"{Param("k")} {k}: must be at least 1");
        if (alpha is { } a) SignRule.CheckAlpha(a);
        if (sites is { Count: 0 })
            throw new InvalidParameterException("sites", $"{Param("sites")}: empty; expected attn, mlp or mlp-out");
        if (!(probeThreshold is >= 0 and <= 1))
            throw new InvalidParameterException("probeThreshold", $"{Param("probeThreshold")} {probeThreshold}: must be between 0 and 1");
        if (gatesFrom is not null && !dynamic)
            throw new InvalidParameterException("gatesFrom", $"{Param("gatesFrom")} needs {Param("dynamic")}: its probes gate a dynamic patch");
        Options = new PatchOptions(fold, switchable, dynamic);
        (K, Alpha, Sites, Force, Existing, ProbeThreshold, GatesFrom) = (k, alpha, sites?.Distinct().ToList(), force, existing, probeThreshold, gatesFrom);
    }

    /// <summary>Re-select this many units from the profile's counts; null = the profile's selection.</summary>
    public int? K { get; }

    /// <summary>Re-select with this strength (a control vector: its strength); null = the profile's.</summary>
    public double? Alpha { get; }

    /// <summary>Re-select from these site kinds only; null = the profile's.</summary>
    public IReadOnlyList<SiteKind>? Sites { get; }

    /// <summary>Apply a profile recorded on another model or element type, with a warning.</summary>
    public bool Force { get; }

    /// <summary>What to do when the model is already steered.</summary>
    public ExistingSteering Existing { get; }

    /// <summary>Dynamic: sites whose probe's held-out accuracy is below this stay unsteered.</summary>
    public double ProbeThreshold { get; }

    /// <summary>Dynamic: the profile file whose probes gate the steering; null = the steering profile's own.</summary>
    public string? GatesFrom { get; }

    /// <summary>How the plan is written into the graph (fold, switchable, dynamic).</summary>
    public PatchOptions Options { get; }

    /// <summary>True when the profile's stored selection must be redone.</summary>
    public bool Reselects => K is not null || Alpha is not null || Sites is not null;

    /// <summary>The profile as it is: its stored selection, inserted as Mul/Add nodes, a steered model refused.</summary>
    public static PatchRequest Default { get; } = new();
}
