using OnnxSteer.Import;
using OnnxSteer.Interop;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Tests.Reference;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Import;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using OnnxSteer.Tokenizers;
using Xunit;
using Xunit.Abstractions;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Interop;

/// <summary>
/// Control vectors applied to stories260K imported in both export styles (fp32), checked through ONNX Runtime against
/// the C# reference forward pass with the vector added to each steered layer's output.
/// </summary>
public sealed class ControlVectorPatchTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly Lazy<LlamaReference> Reference = new(() => LlamaReference.Load(ImportedModels.CheckpointPath));

    private static readonly string[] Prompts = ["Once upon a time", "Lily and Ben went to the park. They saw a big tree and"];

    private static IReadOnlyList<int> Encode(string text) =>
        TokenizerLoader.Load(ImportedModels.Get(ExportStyle.Standard, ExportDType.Fp32)).EncodeToIds(text);

    /// <summary>Directions for layers 1, 3 and 4 (the last) of width 64, entries uniform in ±0.5 (hidden states here are O(1)).</summary>
    private static Dictionary<int, float[]> RandomDirections(int seed = 7)
    {
        var rng = new Random(seed);
        return new[] { 1, 3, 4 }.ToDictionary(l => l, _ => Enumerable.Range(0, 64).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
    }

    private string WriteVector(Dictionary<int, float[]> directions, string name = "cv.gguf")
    {
        var path = _dir[name];
        ControlVectorFile.Write(path, new ControlVector("llama", directions.Count, directions));
        return path;
    }

    private PatchOutcome Patch(string model, string profileOrVector, string outName, double? alpha = null) =>
        Steerer.Patch(model, profileOrVector, _dir[outName], new PatchSettings { Alpha = alpha });

    [SharedTheory]
    [InlineData(ExportStyle.Genai)]
    [InlineData(ExportStyle.Standard)]
    internal void A_control_vector_given_to_patch_matches_the_reference_with_the_vector_added_to_each_layer_output(ExportStyle style)
    {
        var model = ImportedModels.Get(style, ExportDType.Fp32);
        var directions = RandomDirections();
        const double strength = 1.5;
        var outcome = Patch(model, WriteVector(directions), "out", alpha: strength);
        Assert.Equal(SteeringOperation.Add, outcome.Plan.Operation);
        Assert.Equal(["mlp-out.1", "mlp-out.3", "mlp-out.4"], outcome.Patch.Step.Sites);
        Assert.Equal(strength, outcome.Patch.Step.Alpha);

        var offsets = directions.ToDictionary(d => d.Key, d => d.Value.Select(x => (float)(x * strength)).ToArray());
        using var steered = new OnnxLlamaRunner(_dir["out"]);
        using var vanilla = new OnnxLlamaRunner(model);
        double worst = 0, moved = 0;
        foreach (var prompt in Prompts)
        {
            var ids = Encode(prompt);
            var expected = Reference.Value.Forward(ids, offsets).Logits;
            var plain = Reference.Value.Forward(ids).Logits;
            var actual = steered.Logits(ids);
            var before = vanilla.Logits(ids);
            for (var p = 0; p < ids.Count; p++)
                for (var v = 0; v < expected[p].Length; v++)
                {
                    worst = Math.Max(worst, Math.Abs(actual[p][v] - expected[p][v]));
                    moved = Math.Max(moved, Math.Abs(expected[p][v] - plain[p][v]));
                    Assert.True(Math.Abs(before[p][v] - plain[p][v]) < 1e-4);
                }
        }
        output.WriteLine($"{style}: max |steered onnx - reference with offsets| = {worst:G3}; the vector moved logits by up to {moved:G3}");
        // Same tolerance as the unsteered export against the reference: adding c to the MLP output before the residual add
        // instead of after it changes one rounding per layer, far below 1e-4.
        Assert.True(worst < 1e-4, $"max difference {worst}");
        Assert.True(moved > 0.1, $"the vector should change the logits visibly (moved {moved})");
    }

    [SharedTheory]
    [InlineData(ExportStyle.Genai)]
    [InlineData(ExportStyle.Standard)]
    internal void A_zero_vector_gives_logits_bitwise_equal_to_the_unsteered_model(ExportStyle style)
    {
        var model = ImportedModels.Get(style, ExportDType.Fp32);
        var zero = Enumerable.Range(0, 5).ToDictionary(l => l, _ => new float[64]);
        Patch(model, WriteVector(zero), "zero");
        using var steered = new OnnxLlamaRunner(_dir["zero"]);
        using var vanilla = new OnnxLlamaRunner(model);
        foreach (var prompt in Prompts)
        {
            var ids = Encode(prompt);
            var a = steered.Logits(ids);
            var b = vanilla.Logits(ids);
            for (var p = 0; p < ids.Count; p++) Assert.Equal(b[p], a[p]);
        }
    }

    [SharedFact]
    public void Importing_then_patching_the_profile_with_alpha_equals_patching_the_vector_with_that_strength()
    {
        var model = ImportedModels.Get(ExportStyle.Standard, ExportDType.Fp32);
        var vector = WriteVector(RandomDirections(3));
        var onnx = OnnxModel.Load(model);
        var sites = SiteFinder.Find(onnx).Sites;
        var imported = ControlVectorProfiles.Import(vector, onnx, sites, 1.0);
        var profilePath = _dir["cv.json"];
        imported.Profile.Save(profilePath);

        var viaProfile = Patch(model, profilePath, "p", alpha: -2);
        var direct = Patch(model, vector, "d", alpha: -2);
        Assert.Equal(direct.Plan.Sites.Select(s => s.Vector), viaProfile.Plan.Sites.Select(s => s.Vector));
        Assert.Equal(-2, viaProfile.Patch.Step.Alpha);
        var e = Assert.Throws<InvalidProfileException>(() =>
            Steerer.Patch(model, profilePath, _dir["k"], new PatchSettings { K = 3 }));
        Assert.Contains("only --alpha", ErrorReporter.Message(e));
    }

    [SharedFact]
    public void A_vector_for_a_layer_the_model_lacks_or_of_another_width_is_refused_naming_the_file()
    {
        var model = ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp32);
        var tooDeep = WriteVector(new Dictionary<int, float[]> { [5] = new float[64] }, "deep.gguf");
        var e = Assert.Throws<InvalidGgufException>(() => Patch(model, tooDeep, "x"));
        Assert.StartsWith(tooDeep + ": direction.5 is for layer 5, but the model has 5 decoder layers (0..4)", e.Message);

        var wide = WriteVector(new Dictionary<int, float[]> { [2] = new float[4096] }, "wide.gguf");
        e = Assert.Throws<InvalidGgufException>(() => Patch(model, wide, "y"));
        Assert.StartsWith(wide + ": direction.2 has 4096 elements, but the model's hidden size is 64", e.Message);
        Assert.False(Directory.Exists(_dir["x"]) || Directory.Exists(_dir["y"]));
    }

    [SharedTheory]
    [InlineData(ExportStyle.Genai)]
    [InlineData(ExportStyle.Standard)]
    internal void Every_layer_of_both_styles_has_a_residual_site_that_sums_the_mlp_output_into_the_stream(ExportStyle style)
    {
        var onnx = OnnxModel.Load(ImportedModels.Get(style, ExportDType.Fp32));
        var residual = ResidualSites.Find(onnx.Graph, SiteFinder.Find(onnx).Sites, "m");
        Assert.Equal([0, 1, 2, 3, 4], residual.Select(r => r.Layer));
        Assert.All(residual, r => Assert.Equal(64, r.Width));
        var ops = residual.Select(r => onnx.Graph.Node.Single(n => n.Name == r.ResidualNode).OpType).Distinct().ToList();
        output.WriteLine($"{style}: residual nodes {string.Join(", ", ops)}");
        Assert.Single(ops);
        Assert.Equal(style == ExportStyle.Genai ? "SkipSimplifiedLayerNormalization" : "Add", ops[0]);
    }
}
