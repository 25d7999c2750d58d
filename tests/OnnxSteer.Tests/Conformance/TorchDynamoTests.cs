using Google.Protobuf;
using OnnxSteer.Generation;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// torch dynamo exports (<see cref="TorchDynamo"/>: MatMul(x, Transpose(W)), optionally Cast from float16): the sites
/// are the float model's, <c>--fold</c> folds every site (mlp and mlp-out of one down_proj included) into the stored
/// parameter instead of falling back to a Mul, agrees with the Mul patch, and unpatch restores the file byte for byte.
/// </summary>
public class TorchDynamoTests
{

    [SharedTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Fold_reaches_the_stored_parameter_through_Transpose_and_Cast(bool storedAsFloat16)
    {
        using var tmp = new TempDir();
        var source = ImportedModels.Get("standard", "fp32");
        var file = tmp["model.onnx"];
        File.WriteAllBytes(file, TorchDynamo.Linearise(OnnxModel.Load(Path.Combine(source, "model.onnx")), storedAsFloat16).ToByteArray());
        var model = OnnxModel.Load(file);
        var sites = SiteFinder.Find(model).Sites;
        Assert.Equal(SiteFinder.Find(OnnxModel.Load(Path.Combine(source, "model.onnx"))).Sites.Select(s => s.Id), sites.Select(s => s.Id));
        var profile = TestProfiles.Save(TestProfiles.Make(model, sites, k: 40, alpha: 2), tmp.Path);

        var notes = new List<string>();
        var fold = Steerer.Patch(file, profile, tmp["fold"], new PatchSettings { Fold = true, Notice = n => notes.Add(n.ToString()) });
        var mul = Steerer.Patch(file, profile, tmp["mul"], null);
        Assert.Equal("fold", fold.Patch.Step.Apply);
        Assert.DoesNotContain(notes, n => n.Contains("not folded"));
        var steered = fold.Patch.Step.Sites;
        Assert.Contains(steered, s => s.StartsWith("mlp.") && steered.Contains("mlp-out." + s[4..]));

        var vanilla = Runs.Logits(file);
        var byMul = Runs.Logits(mul.Written.ModelFile);
        var byFold = Runs.Logits(fold.Written.ModelFile);
        Assert.NotEqual(vanilla, byMul);
        // fp32 parameters: one rounding per weight (1e-5); float16 parameters round the folded weight to float16 (2e-3).
        var tolerance = (storedAsFloat16 ? 2e-3 : 1e-5) * Math.Max(1, byMul.Max(Math.Abs));
        var difference = byMul.Zip(byFold, (a, b) => Math.Abs((double)a - b)).Max();
        Assert.True(difference <= tolerance, $"fold vs Mul max |Δlogit| {difference:g3} > {tolerance:g3}");

        var restored = Steerer.UnpatchWithRecord(fold.Written.ModelFile, tmp["restored"]).Written.ModelFile;
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(restored));
    }
}
