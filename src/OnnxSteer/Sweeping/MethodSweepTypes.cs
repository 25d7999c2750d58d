using OnnxSteer.Evaluation;
using OnnxSteer.Profiles;

namespace OnnxSteer.Sweeping;

/// <summary>One method of a sweep over methods: its grid on validation, its front, its choice and that choice on the test slice.</summary>
/// <param name="Method">The method.</param>
/// <param name="Settings">Every finished setting of its grid, in grid order.</param>
/// <param name="Front">The settings on its Pareto front (validation accuracy against fluency cost, <see cref="ParetoFront"/>), cheapest first.</param>
/// <param name="Best">Its best setting on validation (<see cref="SettingChooser.Best"/>); null when interrupted or none passed the fluency guard.</param>
/// <param name="BestProfile">The profile with <see cref="Best"/>'s selection.</param>
/// <param name="Test">The test-slice evaluation of <see cref="Best"/>, once; null when not reached.</param>
public sealed record MethodOutcome(SteeringMethod Method, IReadOnlyList<SettingResult> Settings, IReadOnlyList<SettingResult> Front,
    SettingResult? Best, SteeringProfile? BestProfile, MethodTest? Test);

/// <summary>A method's chosen setting on the test slice, against the vanilla model item by item.</summary>
/// <param name="Result">The steered model's answers.</param>
/// <param name="VsVanilla">Paired counts against the vanilla model (McNemar).</param>
/// <param name="Margins">Per-item margins (loglik only, <see cref="Evaluation.Margins"/>).</param>
/// <param name="MarginVsVanilla">Mean margin change against the vanilla model, with its paired 95% interval (loglik only).</param>
public sealed record MethodTest(EvalResult Result, EvalComparison VsVanilla, IReadOnlyList<double>? Margins, MeanDifference? MarginVsVanilla);

/// <summary>Two methods' chosen settings on the same test items: <see cref="Second"/> − <see cref="First"/>.</summary>
/// <param name="First">The method asked for first.</param>
/// <param name="Second">The method asked for later.</param>
/// <param name="Comparison">Their test answers paired item by item (McNemar).</param>
/// <param name="Margin">Mean margin change from the first to the second, with its paired 95% interval (loglik only).</param>
public sealed record MethodPair(SteeringMethod First, SteeringMethod Second, EvalComparison Comparison, MeanDifference? Margin);

/// <summary>Everything a sweep over methods found.</summary>
public sealed record MethodSweepResult : SweepFrame
{
    /// <summary>The unsteered model on the test slice.</summary>
    public EvalResult? VanillaTest { get; init; }
    /// <summary>Per-item margins of the vanilla model on the test slice (loglik only).</summary>
    public IReadOnlyList<double>? VanillaTestMargins { get; init; }
    /// <summary>One outcome per method, in request order (those reached).</summary>
    public required IReadOnlyList<MethodOutcome> Methods { get; init; }
    /// <summary>Every two methods' chosen settings on the test slice, in request order.</summary>
    public IReadOnlyList<MethodPair> Pairs { get; init; } = [];
    /// <summary>
    /// The method to use: of the methods whose best setting gets more validation items right than the vanilla model, the
    /// one with the most (ties: fewer scalars, then request order); null when none does, or the sweep was interrupted.
    /// Chosen on validation only, like each method's setting.
    /// </summary>
    public MethodOutcome? Chosen { get; init; }
}
