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
/// One patch as the caller asked for it (<see cref="PatchSettings"/>), checked once. Every rule about the parameters
/// lives in <see cref="From"/>, which runs before any file is read, so each bad request gets its one error and nothing
/// after it checks a parameter again. Immutable, and made only by <see cref="From"/>: a request that exists is valid.
/// </summary>
internal sealed class PatchRequest
{
    private PatchRequest(PatchSettings s, PatchOptions options)
    {
        (K, Alpha, Sites, Force, Existing, ProbeThreshold, GatesFrom, Options) =
            (s.K, s.Alpha, s.Sites?.Distinct().ToList(), s.Force, s.Existing, s.ProbeThreshold, s.GatesFrom, options);
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
    public static PatchRequest Default { get; } = From(null);

    /// <summary>Checks <paramref name="settings"/> (null = the defaults) and returns the request.</summary>
    /// <exception cref="InvalidParameterException">The first parameter that breaks a rule, named.</exception>
    public static PatchRequest From(PatchSettings? settings)
    {
        settings ??= new PatchSettings();
        if (settings.K is { } k && k < 1) throw new InvalidParameterException("k", $"{Param("k")} {k}: must be at least 1");
        if (settings.Alpha is { } alpha) SignRule.CheckAlpha(alpha);
        if (settings.Sites is { Count: 0 })
            throw new InvalidParameterException("sites", $"{Param("sites")}: empty; expected attn, mlp or mlp-out");
        if (!(settings.ProbeThreshold is >= 0 and <= 1))
            throw new InvalidParameterException("probeThreshold",
                $"{Param("probeThreshold")} {settings.ProbeThreshold}: must be between 0 and 1");
        if (!Enum.IsDefined(settings.Existing))
            throw new InvalidParameterException("existing", $"{Param("existing")} {(int)settings.Existing}: expected Refuse, Replace or Stack");
        if (settings.GatesFrom is not null && !settings.Dynamic)
            throw new InvalidParameterException("gatesFrom", $"{Param("gatesFrom")} needs {Param("dynamic")}: its probes gate a dynamic patch");
        return new PatchRequest(settings, new PatchOptions(settings.Fold, settings.Switchable, settings.Dynamic));
    }
}
