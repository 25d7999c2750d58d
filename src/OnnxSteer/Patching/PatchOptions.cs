using static OnnxSteer.ErrorText;

namespace OnnxSteer.Patching;

/// <summary>
/// How <see cref="GraphPatcher.Apply"/> writes a plan into a graph. Checked where it is made (a fold cannot be
/// switchable or dynamic), so the applier trusts it; a class, not a record, so no <c>with</c> can skip the check.
/// </summary>
internal sealed class PatchOptions
{
    /// <param name="Fold">Fold the scale vector into the projection's weight where that is exact; other sites get a Mul.</param>
    /// <param name="Switchable">Make each steering vector an overridable initializer and add the scalar input
    /// <see cref="SwitchableSteering.StrengthName"/>, so a host can change the steering per run.</param>
    /// <param name="Dynamic">DSAS: scale each site's steering by its probe's gate sigmoid(w·h + b), computed in the graph
    /// at every position (see <see cref="DynamicGate"/>); the plan's sites carry the probes.</param>
    /// <exception cref="InvalidParameterException"><paramref name="Fold"/> with <paramref name="Switchable"/> or <paramref name="Dynamic"/>.</exception>
    public PatchOptions(bool Fold = false, bool Switchable = false, bool Dynamic = false)
    {
        if (Fold && Switchable)
            throw new InvalidParameterException("switchable",
                $"{Param("fold")} and {Param("switchable")} cannot be used together: a folded weight has no vector to override");
        if (Fold && Dynamic)
            throw new InvalidParameterException("dynamic",
                $"{Param("fold")} and {Param("dynamic")} cannot be used together: a folded weight cannot depend on the input");
        (this.Fold, this.Switchable, this.Dynamic) = (Fold, Switchable, Dynamic);
    }

    /// <summary>Fold into the weights where exact.</summary>
    public bool Fold { get; }

    /// <summary>Overridable vectors and a strength input.</summary>
    public bool Switchable { get; }

    /// <summary>Gated by probes at every token.</summary>
    public bool Dynamic { get; }

    /// <summary>The DSAS paper's cut-off: layers whose probe is less accurate than this are not steered.</summary>
    public const double DefaultProbeThreshold = 0.75;

    /// <summary>Insert Mul/Add nodes.</summary>
    public static PatchOptions Default { get; } = new();
}
