using OnnxSteer.Generation;
using OnnxSteer.Pairs;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Runtime;
using OnnxSteer.Tokenizers;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Evaluation;

/// <summary>What <see cref="DirectionCheck"/> found.</summary>
/// <param name="Pairs">Held-out pairs scored.</param>
/// <param name="VanillaMargin">Mean over pairs of log p(positive | prompt) − log p(negative | prompt), unsteered (nats).</param>
/// <param name="SteeredMargin">The same with the selection patched in.</param>
/// <param name="MovedUp">Pairs whose margin rose under steering.</param>
public sealed record DirectionCheckResult(int Pairs, double VanillaMargin, double SteeredMargin, int MovedUp)
{
    /// <summary>Steered minus vanilla margin: positive when steering moves towards the positive answers.</summary>
    public double Shift => SteeredMargin - VanillaMargin;

    /// <summary>One line for the user, with what to do when the shift has the wrong sign.</summary>
    public WarningText Describe()
    {
        WarningText line = $"direction check on {Pairs} held-out pairs: log-prob margin of positive over negative {VanillaMargin:0.000} → {SteeredMargin:0.000} nats ({Shift:+0.000;-0.000}), {MovedUp} of {Pairs} pairs moved towards the positive";
        if (Shift > 0) return line;
        return $"{line}; WRONG WAY: try {Param("direction")} sign-aware, {Param("tieBreak")} effect, more pairs, or a smaller {Param("alpha")}";
    }
}

/// <summary>
/// After profiling: patches the selection into the model in memory and scores held-out pairs with and without
/// it (summed log-probability of each answer, as <see cref="ChoiceScorer"/>), so a user learns whether the chosen units
/// move the model the intended way before using them.
/// </summary>
public static class DirectionCheck
{
    /// <summary>Runs the check of <paramref name="selected"/> (a profile of <paramref name="modelPath"/>) on <paramref name="pairs"/>.</summary>
    /// <param name="modelPath">The unsteered model: a folder or a .onnx file; never modified.</param>
    /// <param name="selected">A profile of that model, with the selection to check.</param>
    /// <param name="pairs">Held-out pairs: not those the profile was built on.</param>
    /// <param name="settings">ONNX Runtime settings (device, threads); null: the defaults.</param>
    /// <param name="tokenizerPath">tokenizer.json or its folder; null: the model's folder.</param>
    /// <exception cref="InvalidInputException">No pairs (parameter <c>checkPairs</c>).</exception>
    /// <exception cref="InvalidProfileException">The profile does not fit the model.</exception>
    public static DirectionCheckResult Run(string modelPath, SteeringProfile selected, IReadOnlyList<ContrastivePair> pairs,
        RuntimeSettings? settings = null, string? tokenizerPath = null)
    {
        if (pairs.Count == 0) throw new InvalidInputException($"{Param("checkPairs")}: the file holds no pairs");
        var steered = SteeringTarget.Load(modelPath).Steer(new InMemoryProfile(selected, name: "(selected profile)"), PatchRequest.Default);
        using var vanilla = DecoderModel.Open(modelPath, settings);
        var tokenizer = TokenizerLoader.Load(tokenizerPath ?? (Directory.Exists(modelPath) ? modelPath : Path.GetDirectoryName(Path.GetFullPath(modelPath))!));
        var before = Margins(vanilla, tokenizer, pairs);
        double[] after;
        using (var steeredModel = DecoderModel.Open(modelPath, steered.ToBytes(), steered.ExternalDataFolder, settings))
            after = Margins(steeredModel, tokenizer, pairs);
        var up = before.Zip(after).Count(x => x.Second > x.First);
        return new DirectionCheckResult(pairs.Count, before.Average(), after.Average(), up);
    }

    /// <summary>Per pair: log p(positive | prompt) − log p(negative | prompt) under <paramref name="model"/>.</summary>
    internal static double[] Margins(DecoderModel model, ITokenizer tokenizer, IReadOnlyList<ContrastivePair> pairs) =>
        [.. pairs.Select(p => ChoiceScorer.Score(model, tokenizer, p.Prompt, p.Positive).LogLikelihood
                              - ChoiceScorer.Score(model, tokenizer, p.Prompt, p.Negative).LogLikelihood)];
}
