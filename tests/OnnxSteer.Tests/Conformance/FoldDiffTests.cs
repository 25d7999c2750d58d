using OnnxSteer.Diffing;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// <c>diff</c> after <c>patch --fold</c> names every folded site and unit as steering, whatever was folded into: float
/// weights (fp32, fp16 with its rounding), int4 MatMulNBits block scales (mlp through the up projection), and one down
/// projection carrying both an mlp (rows) and an mlp-out (columns) fold; nothing is left over as "other changes".
/// </summary>
public class FoldDiffTests
{
    [SharedTheory]
    [InlineData("genai", "int4")]
    [InlineData("standard", "fp16")]
    [InlineData("genai", "fp32")]
    public void Diff_names_every_fold_as_steering_with_its_units(string style, string dtype)
    {
        var modelFile = Path.Combine(ImportedModels.Get(style, dtype), "model.onnx");
        using var tmp = new TempDir();
        var model = OnnxModel.Load(modelFile);
        var profile = TestProfiles.Save(TestProfiles.Make(model, SiteFinder.Find(model).Sites, k: 40, alpha: 2), tmp.Path);
        var outcome = Steerer.Patch(modelFile, profile, tmp["fold"], new PatchSettings { Fold = true });
        var folds = outcome.Patch.Step.Edits.Where(e => e.Kind == EditKind.Fold).ToList();
        Assert.True(folds.Count >= 5, $"only {folds.Count} folds");
        if (dtype != "int4")
            Assert.Contains(folds, f => f.Site.StartsWith("mlp.") && folds.Any(g => g.Site == "mlp-out." + f.Site[4..]));

        var steering = ModelDiffer.Compare(modelFile, outcome.Written.ModelFile).Steering!;
        Assert.True(steering.RestUnchanged, string.Join("; ", steering.OtherChanges));
        var expected = outcome.Plan.Sites.Where(s => folds.Any(f => f.Site == s.Site.Id))
            .Select(s => (Id: s.Site.Id, Units: string.Join(",", s.Units.Select(u => $"{u.Index}:{u.Value:R}"))))
            .OrderBy(x => x.Id, StringComparer.Ordinal);
        var actual = steering.Sites.Where(s => s.Mode == "folded")
            .Select(s => (Id: $"{s.Kind}.{s.Layer}", Units: string.Join(",", s.Units.Select(u => $"{u.Index}:{u.Gamma!.Value:R}"))))
            .OrderBy(x => x.Id, StringComparer.Ordinal);
        Assert.Equal(expected, actual);
    }
}
