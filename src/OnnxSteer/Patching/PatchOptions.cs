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

/// <summary>Choices for <see cref="GraphPatcher.Apply"/>.</summary>
/// <param name="Fold">Fold the scale vector into the projection's weight where that is exact; other sites get a Mul.</param>
/// <param name="Existing">Policy for a model that is already steered.</param>
/// <param name="Switchable">Make each steering vector an overridable initializer and add the scalar input
/// <see cref="SwitchableSteering.StrengthName"/>, so a host can change the steering per run (see <see cref="SwitchableSteering"/>).
/// Cannot be combined with <paramref name="Fold"/>.</param>
/// <param name="Dynamic">DSAS: scale each site's steering by its probe's gate sigmoid(w·h + b), computed in the graph at
/// every position (see <see cref="DynamicGate"/>); needs a profile with probes. Cannot be combined with <paramref name="Fold"/>.</param>
/// <param name="ProbeThreshold">With <paramref name="Dynamic"/>: sites whose probe's held-out accuracy is below this are
/// left unsteered.</param>
/// <param name="GatesFrom">With <paramref name="Dynamic"/>: a profile file whose probes gate the steering, instead of the
/// steering profile's own (so the same gates scale a CAA profile, a GGUF control vector or a stacked step).</param>
/// <exception cref="InvalidParameterException"><paramref name="Fold"/> with <paramref name="Switchable"/> or
/// <paramref name="Dynamic"/>: checked here, where the options are made, so every caller gets the same typed error
/// before any model is read.</exception>
internal sealed record PatchOptions(bool Fold = false, ExistingSteering Existing = ExistingSteering.Refuse, bool Switchable = false,
    bool Dynamic = false, double ProbeThreshold = PatchOptions.DefaultProbeThreshold, string? GatesFrom = null)
{
    /// <inheritdoc cref="PatchOptions"/>
    public bool Fold { get; init; } = Contradiction(Fold, Switchable, Dynamic) is { } e ? throw e : Fold;

    /// <inheritdoc cref="PatchOptions"/>
    public string? GatesFrom { get; init; } = GatesFrom is not null && !Dynamic
        ? throw new InvalidParameterException("gatesFrom", $"{Param("gatesFrom")} needs {Param("dynamic")}: its probes gate a dynamic patch")
        : GatesFrom;

    /// <summary>
    /// The error for options that cannot go together (a fold with switchable or dynamic steering), or null. The
    /// constructor applies it; <see cref="GraphPatcher.Apply"/> applies it again for options changed with <c>with</c>.
    /// </summary>
    internal static InvalidParameterException? Contradiction(bool fold, bool switchable, bool dynamic) =>
        fold && switchable
            ? new InvalidParameterException("switchable",
                $"{Param("fold")} and {Param("switchable")} cannot be used together: a folded weight has no vector to override")
            : fold && dynamic
                ? new InvalidParameterException("dynamic",
                    $"{Param("fold")} and {Param("dynamic")} cannot be used together: a folded weight cannot depend on the input")
                : null;

    /// <summary>The DSAS paper's cut-off: layers whose probe is less accurate than this are not steered.</summary>
    public const double DefaultProbeThreshold = 0.75;

    /// <summary>Insert Mul/Add nodes, refuse steered models.</summary>
    public static PatchOptions Default { get; } = new();
}
