using Google.Protobuf;
using OnnxSteer.Diffing;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Diffing;

/// <summary>
/// Diffs the real onnxruntime-genai export (fp16, external data) against copies steered by the real patcher:
/// the summary must name exactly the planned units and say nothing else moved.
/// </summary>
public sealed class RealModelDiffTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("onnxsteer-diff-real-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly (SiteKind Kind, int Layer, int Index, double Gamma)[] Units =
        [(SiteKind.Attn, 0, 3, 0.5), (SiteKind.Mlp, 1, 10, -0.5), (SiteKind.MlpOut, 1, 7, 2.0)];

    /// <summary>Patches the shared model and saves the result beside a copy of its data file (a hard link when possible).</summary>
    private (OnnxModel Original, string PatchedPath) Patch(bool fold)
    {
        var original = OnnxModel.Load(Path.Combine(SharedData.TinyGenaiModelDir, "model.onnx"));
        var plan = SteeringPlan.Scale(SiteFinder.Find(original).Sites, Units, new SteeringProvenance("austeer", 3, 1, null), "test");
        var patched = GraphPatcher.Apply(original, plan, new PatchOptions(Fold: fold)).Model;
        var data = Path.Combine(_dir, "model.onnx.data");
        if (!File.Exists(data)) File.Copy(Path.Combine(SharedData.TinyGenaiModelDir, "model.onnx.data"), data);
        var path = Path.Combine(_dir, fold ? "folded.onnx" : "steered.onnx");
        File.WriteAllBytes(path, patched.Proto.ToByteArray());
        return (original, path);
    }

    [SharedTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Steered_genai_export_reports_the_planned_units_and_nothing_else(bool fold)
    {
        var (original, path) = Patch(fold);
        var report = ModelDiffer.Compare(original, OnnxModel.Load(path));

        var s = Assert.IsType<SteeringSummary>(report.Steering);
        Assert.True(s.RestUnchanged, string.Join("; ", s.OtherChanges));
        var found = s.Sites.SelectMany(x => x.Units.Select(u => (x.Kind, x.Layer, u.Index, Gamma: u.Gamma!.Value))).OrderBy(x => x).ToList();
        var planned = Units.Select(u => (Kind: u.Kind.ToName(), u.Layer, u.Index, u.Gamma)).OrderBy(x => x).ToList();
        Assert.Equal(planned.Select(p => (p.Kind, p.Layer, p.Index)), found.Select(f => (f.Kind, f.Layer, f.Index)));
        foreach (var (p, f) in planned.Zip(found))
        {
            // fp16: the stored factor (node) or the ratio of rounded weights (fold) is within 2^-9 of 1 + gamma, relatively.
            Assert.True(Math.Abs(f.Gamma - p.Gamma) <= Math.Pow(2, -9) * Math.Abs(1 + p.Gamma), $"{f}: planned {p.Gamma}");
        }
        // Each folded site changed one weight (mlp.1 and mlp-out.1 the same one: its rows and its columns); every other
        // weight was compared as a stream of the copied data file and found equal.
        var folded = s.Sites.Where(x => x.Mode == "folded").Select(x => x.Tensor).Distinct().Count();
        Assert.Equal(fold, folded > 0);
        if (fold) Assert.Equal(3, s.Sites.Count(x => x.Mode == "folded"));
        Assert.Equal(folded, report.Initializers.Changed.Count);
        Assert.Equal(original.Graph.Initializer.Count - folded, report.Initializers.Unchanged);
    }

    [SharedFact]
    public void Prompt_comparison_of_a_steered_model_matches_a_direct_computation_on_its_logits()
    {
        var (_, path) = Patch(fold: false);
        var original = Path.Combine(SharedData.TinyGenaiModelDir, "model.onnx");
        var tokenizer = OnnxSteer.Tokenizers.TokenizerLoader.Load(SharedData.TinyGenaiModelDir);
        var cmp = PromptComparer.Compare(original, path, tokenizer, "Once upon a time", generate: 4);

        // Independent: the last-position logits of a full forward pass of each model, softmax and KL written out here.
        float[] Last(string model)
        {
            using var m = OnnxSteer.Generation.DecoderModel.Open(model);
            var all = m.Forward(tokenizer.EncodeToIds("Once upon a time"));
            return all.Row(all.Positions - 1).ToArray();
        }
        var a = Last(original);
        var b = Last(path);
        double ma = a.Max(), mb = b.Max();
        var za = a.Sum(x => Math.Exp(x - ma));
        var zb = b.Sum(x => Math.Exp(x - mb));
        var kl = Enumerable.Range(0, a.Length).Sum(i =>
        {
            var pa = Math.Exp(a[i] - ma) / za;
            return pa * ((a[i] - ma - Math.Log(za)) - (b[i] - mb - Math.Log(zb)));
        });
        // The comparer takes its logits from a KV-cache step, the check from a full pass: same math, float32 kernels,
        // so agreement to 1e-4 in logits and 1e-6 nats in KL.
        Assert.Equal(kl, cmp.KlAB, 1e-6);
        Assert.Equal(Enumerable.Range(0, a.Length).Max(i => Math.Abs((double)b[i] - a[i])), cmp.MaxAbsLogitDiff, 1e-4);
        Assert.True(cmp.MaxAbsLogitDiff > 0, "steering gamma 2.0 on an mlp-out unit must move the logits");
        Assert.Equal(Enumerable.Range(0, a.Length).OrderByDescending(i => a[i]).First(), cmp.TopA[0].Id);
        Assert.Equal(5, cmp.TopB.Count);
        Assert.NotNull(cmp.Generation);
        Assert.Equal(4, cmp.Generation.IdsA.Count);

        var same = PromptComparer.Compare(original, original, tokenizer, "Once upon a time", generate: 4);
        Assert.Equal(0, same.KlAB);
        Assert.Equal(0, same.MaxAbsLogitDiff);
        Assert.Null(same.Generation!.FirstDivergence);
    }

    [SharedFact]
    public void A_model_diffed_with_itself_reads_no_external_data()
    {
        var path = Path.Combine(SharedData.TinyGenaiModelDir, "model.onnx");
        var report = ModelDiffer.Compare(path, path);
        Assert.True(report.Identical);
        var external = OnnxModel.Load(path).ExternalTensors().Count();
        Assert.True(external > 0);
        Assert.Equal(external, report.Initializers.SharedExternal);
    }
}
