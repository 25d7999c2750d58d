using OnnxSteer.Profiles;

namespace OnnxSteer.Sweeping;

/// <summary>
/// The answer of the front door's method comparison: for each method its best setting on validation, its steered
/// scalars, its fluency cost and its one test-slice score against the vanilla model; the method chosen on validation;
/// and the same files <c>onnxsteer sweep --methods</c> writes (<see cref="Write"/>).
/// </summary>
public sealed class MethodComparison
{
    private readonly MethodSweepResult _result;

    internal MethodComparison(MethodSweepResult result)
    {
        _result = result;
        Methods = result.Methods.Where(o => o.Best is not null).Select(o => MethodScore.Of(o, result)).ToList();
    }

    /// <summary>Each method's choice and scores, in the order asked for (methods with no eligible setting left out).</summary>
    public IReadOnlyList<MethodScore> Methods { get; }

    /// <summary>The method chosen on validation (the most validation items right, beating the vanilla model); null when none beats it.</summary>
    public SteeringMethod? Chosen => _result.Chosen?.Method;

    /// <summary>Validation items.</summary>
    public int ValidationItems => _result.ValidationIds.Count;

    /// <summary>Test items.</summary>
    public int TestItems => _result.TestIds.Count;

    /// <summary>The vanilla model's validation items right.</summary>
    public int VanillaValidationCorrect => _result.VanillaValidation?.Correct ?? 0;

    /// <summary>The vanilla model's test items right.</summary>
    public int VanillaTestCorrect => _result.VanillaTest?.Correct ?? 0;

    /// <summary>True when cancelled before the end; the scores cover what finished.</summary>
    public bool Interrupted => _result.Interrupted;

    /// <summary>One sentence: the choice and which methods the test slice tells apart from the vanilla model.</summary>
    public string Verdict => MethodSweepReport.Verdict(_result);

    /// <summary>The text summary the CLI prints.</summary>
    public string Summary => MethodSweepReport.Text(_result);

    /// <summary>The methods.json document (schema <c>onnxsteer.sweep-methods/1</c>).</summary>
    public string ToJson() => MethodSweepReport.Json(_result);

    /// <summary>Writes methods.json, pareto.png and best-METHOD.json into <paramref name="folder"/>; returns the paths.</summary>
    public IReadOnlyList<string> Write(string folder) => MethodSweepReport.Write(folder, _result);

    internal MethodSweepResult Result => _result;
}

/// <summary>One method's best setting on validation and its scores.</summary>
/// <param name="Method">The method.</param>
/// <param name="K">Units per site kind (null for caa).</param>
/// <param name="Alpha">Strength.</param>
/// <param name="Layers">caa's layers (null for the unit methods).</param>
/// <param name="Scalars">Steered scalars: units, or the entries of the caa vectors.</param>
/// <param name="ValidationCorrect">Validation items right.</param>
/// <param name="FluencyCost">The vanilla model's mean log-likelihood per token on the neutral texts minus this setting's (nats; &gt; 0 is a loss).</param>
/// <param name="BeatsVanilla">More validation items right than the vanilla model.</param>
/// <param name="TestCorrect">Test items right; null when the test slice was not reached.</param>
/// <param name="McNemarP">McNemar's exact p against the vanilla model on the test slice.</param>
/// <param name="MarginChange">Loglik only: mean change of the right answer's log-probability margin against the vanilla model on the test slice, with its 95% interval (<paramref name="MarginLow"/>, <paramref name="MarginHigh"/>).</param>
/// <param name="MarginLow">Lower bound of <paramref name="MarginChange"/>'s interval.</param>
/// <param name="MarginHigh">Upper bound.</param>
/// <param name="Profile">The profile with this selection, ready to patch.</param>
/// <param name="Front">The method's Pareto front on validation, cheapest first: (fluency cost, validation accuracy, scalars).</param>
public sealed record MethodScore(SteeringMethod Method, int? K, double Alpha, IReadOnlyList<int>? Layers, int Scalars, int ValidationCorrect,
    double FluencyCost, bool BeatsVanilla, int? TestCorrect, double? McNemarP, double? MarginChange, double? MarginLow, double? MarginHigh,
    SteeringProfile Profile, IReadOnlyList<(double FluencyCost, double Accuracy, int Scalars)> Front)
{
    internal static MethodScore Of(MethodOutcome o, MethodSweepResult r)
    {
        var b = o.Best!;
        var vf = r.VanillaFluency!;
        var t = o.Test;
        return new MethodScore(o.Method, b.Setting.Layers is null ? b.Setting.K : null, b.Setting.Alpha,
            b.Setting.Layers is { } l ? LayerSets.Layers(l) : null, b.Units, b.Validation.Correct, ParetoFront.Cost(b, vf),
            SettingChooser.BeatsVanilla(b, r.VanillaValidation), t?.Result.Correct, t?.VsVanilla.Counts.McNemarP,
            t?.MarginVsVanilla?.Mean, t?.MarginVsVanilla?.Low, t?.MarginVsVanilla?.High, o.BestProfile!,
            o.Front.Select(s => (ParetoFront.Cost(s, vf), s.Validation.Accuracy, s.Units)).ToList());
    }
}
