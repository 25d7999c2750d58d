using OnnxSteer.Evaluation;
using OnnxSteer.Pairs;
using OnnxSteer.Profiles;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;

namespace OnnxSteer.Sweeping;

/// <summary>What to sweep: one immutable request for both kinds of sweep (<see cref="SweepRunner"/>, <see cref="MethodSweepRunner"/>).</summary>
public sealed record SweepRequest
{
    /// <summary>The unsteered model (folder or .onnx file).</summary>
    public required string ModelPath { get; init; }
    /// <summary>The profile whose counts units are re-selected from.</summary>
    public required string ProfilePath { get; init; }
    /// <summary>The task (templates and choices).</summary>
    public required BenchmarkTask Task { get; init; }
    /// <summary>The task's data file.</summary>
    public required string DataPath { get; init; }
    /// <summary>k values (units per site kind).</summary>
    public required IReadOnlyList<int> Ks { get; init; }
    /// <summary>alpha values.</summary>
    public required IReadOnlyList<double> Alphas { get; init; }
    /// <summary>Site kinds to select from; null = the profile's stored selection (else every kind recorded).</summary>
    public IReadOnlyList<SiteKind>? Sites { get; init; }
    /// <summary>
    /// A sweep over methods (<see cref="MethodSweepRunner"/>): each one re-selected from the same profile's statistics
    /// with its own grid; null = the profile's own method over k × alpha (<see cref="SweepRunner"/>).
    /// </summary>
    public IReadOnlyList<SteeringMethod>? Methods { get; init; }
    /// <summary>caa's strengths in a sweep over methods; null = <see cref="Alphas"/>.</summary>
    public IReadOnlyList<double>? CaaAlphas { get; init; }
    /// <summary>caa's layer sets (<see cref="LayerSets.Parse"/>, e.g. "2,0-4,all"); null = each layer alone, then all together.</summary>
    public string? CaaLayers { get; init; }
    /// <summary>Validation items.</summary>
    public required int Validation { get; init; }
    /// <summary>Test items; null = the rest of the file (see <see cref="SweepSlices.Plan"/>).</summary>
    public int? Test { get; init; }
    /// <summary>First record of the validation slice; null = chosen to avoid the profile's pairs.</summary>
    public int? Offset { get; init; }
    /// <summary>How items are answered.</summary>
    public EvalMode Mode { get; init; } = EvalMode.Loglik;
    /// <summary>
    /// Fluency guard for the choice: settings whose mean log-likelihood per token falls more than this many nats below the
    /// vanilla model's are not chosen (null = fluency is reported only).
    /// </summary>
    public double? MaxFluencyDrop { get; init; }
    /// <summary>Neutral texts for the fluency guard.</summary>
    public IReadOnlyList<string> FluencyTexts { get; init; } = NeutralTexts.Default;
    /// <summary>Where the fluency texts came from, for reports.</summary>
    public string FluencySource { get; init; } = NeutralTexts.DefaultName;
    /// <summary>tokenizer.json or its folder; null = the model's folder.</summary>
    public string? TokenizerPath { get; init; }
    /// <summary>How to run ONNX Runtime.</summary>
    public RuntimeSettings Runtime { get; init; } = RuntimeSettings.Default;
}

/// <summary>One setting's validation outcome.</summary>
/// <param name="Setting">k and alpha.</param>
/// <param name="Units">Scalars actually steered: units (fewer than k per kind only when a kind has fewer units), or for caa the entries of its vectors.</param>
/// <param name="Validation">Accuracy on the validation slice.</param>
/// <param name="Fluency">Mean token log-likelihood of the neutral texts under this setting.</param>
public sealed record SettingResult(SweepSetting Setting, int Units, EvalResult Validation, FluencyResult Fluency);

/// <summary>The chosen setting and the vanilla model on the test slice, paired item by item.</summary>
/// <param name="Steered">The chosen setting's answers.</param>
/// <param name="Vanilla">The unsteered model's answers.</param>
/// <param name="Comparison">The two paired item by item (vanilla first; McNemar).</param>
/// <param name="SteeredFluency">The chosen setting's fluency.</param>
public sealed record SweepTest(EvalResult Steered, EvalResult Vanilla, EvalComparison Comparison, FluencyResult SteeredFluency);

/// <summary>Progress: units of work are items evaluated and fluency texts scored.</summary>
/// <param name="Stage">What is running, e.g. "validation k 4, alpha 20".</param>
/// <param name="Done">Units done over the whole sweep.</param>
/// <param name="Total">Units in the whole sweep.</param>
public readonly record struct SweepProgress(string Stage, int Done, int Total);

/// <summary>What every sweep's result holds: the request, where it ran, the slices and the vanilla model on them.</summary>
public abstract record SweepFrame
{
    /// <summary>The request (its k list as swept: k beyond the units collapsed, see <see cref="SweepGrid.Distinct"/>).</summary>
    public required SweepRequest Request { get; init; }
    /// <summary>The model file swept.</summary>
    public required string ModelFile { get; init; }
    /// <summary>Site kinds units (or caa vectors) were selected from.</summary>
    public required IReadOnlyList<SiteKind> Sites { get; init; }
    /// <summary>The slices and what was checked.</summary>
    public required SweepSlices Slices { get; init; }
    /// <summary>Ids of the validation items, in order.</summary>
    public required IReadOnlyList<string> ValidationIds { get; init; }
    /// <summary>Ids of the test items, in order.</summary>
    public required IReadOnlyList<string> TestIds { get; init; }
    /// <summary>The unsteered model on the validation slice: the bar a choice must clear.</summary>
    public EvalResult? VanillaValidation { get; init; }
    /// <summary>The unsteered model's fluency: cost 0.</summary>
    public FluencyResult? VanillaFluency { get; init; }
    /// <summary>Stopped early by cancellation.</summary>
    public bool Interrupted { get; init; }
}

/// <summary>Everything a sweep found; complete, or cut short by cancellation (<see cref="SweepFrame.Interrupted"/>).</summary>
public sealed record SweepResult : SweepFrame
{
    /// <summary>Finished settings, in grid order (k, then alpha, ascending).</summary>
    public required IReadOnlyList<SettingResult> Settings { get; init; }
    /// <summary>The best setting on validation (<see cref="SettingChooser.Best"/>), whether or not it beats the vanilla model; null when interrupted or when no setting passed the fluency guard.</summary>
    public SettingResult? Best { get; init; }
    /// <summary><see cref="Best"/> when it gets more validation items right than the vanilla model (see <see cref="SettingChooser"/>); null when interrupted before the end of the grid, when no setting passed the fluency guard, or when none beats the vanilla model.</summary>
    public SettingResult? Chosen { get; init; }
    /// <summary>The profile with the chosen setting's selection.</summary>
    public SteeringProfile? ChosenProfile { get; init; }
    /// <summary>The test-slice evaluation of the chosen setting and the vanilla model; null when not reached.</summary>
    public SweepTest? Test { get; init; }
}
