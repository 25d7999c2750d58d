using Google.Protobuf;
using OnnxSteer.Generation;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Recording;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Patching;
using Xunit;
using static OnnxSteer.Tests.Conformance.ExportEdits;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// The end-to-end run every conformance structure goes through, each step checked against a computation that does
/// not use the step's own code: recording against a plain ONNX Runtime run exposing the value as an output; a patch
/// against the same multiplication spliced in by hand; fold against the Mul; switchable at strength 0 against the
/// vanilla model; OnnxSteer's greedy loop against onnxruntime-genai on the steered folder; unpatch against the bytes.
/// </summary>
internal static class ConformanceChecks
{
    public static readonly string[] Modes = ["mul", "fold", "switchable", "dynamic"];

    public static PatchSettings Options(string mode) => mode switch
    {
        "fold" => new PatchSettings { Fold = true },
        "switchable" => new PatchSettings { Switchable = true },
        "dynamic" => new PatchSettings { Dynamic = true },
        _ => new PatchSettings(),
    };

    /// <summary>The sites: one attn, mlp and mlp-out per layer, nothing unsupported.</summary>
    public static IReadOnlyList<SteeringSite> Sites(string file)
    {
        var report = SiteFinder.Find(OnnxModel.Load(file));
        Assert.Empty(report.Unsupported);
        var layers = report.Sites.Max(s => s.Layer) + 1;
        Assert.Equal(Enumerable.Range(0, layers).SelectMany(l => new[] { $"attn.{l}", $"mlp.{l}", $"mlp-out.{l}" }).Order(StringComparer.Ordinal),
            report.Sites.Select(s => s.Id).Order(StringComparer.Ordinal));
        return report.Sites;
    }

    /// <summary>What the recorder records (last token) equals the value a plain run exposes as an output, bit for bit.</summary>
    public static void RecordingEqualsAPlainRun(string file)
    {
        var model = OnnxModel.Load(file);
        var sites = Sites(file);
        using var recorder = new ActivationRecorder(model, sites);
        var recorded = recorder.Record([Runs.Prompt]);
        using var decoder = DecoderModel.Open(file);
        using var inputs = decoder.CreateInputs(Runs.Prompt);
        foreach (var type in sites.Select(s => s.ElementType).Distinct())
        {
            var wanted = sites.Where(s => s.ElementType == type).Select(s => s.ValueName).Distinct().ToList();
            var values = OrtHarness.Run(model.Proto, model.BaseDirectory, inputs.ToDictionary(), wanted, type);
            foreach (var (site, s) in sites.Select((site, s) => (site, s)).Where(x => x.site.ElementType == type))
                Assert.Equal(values[site.ValueName][^site.Width..], recorded[0][s]);
        }
    }

    /// <summary>A patch of <paramref name="file"/> in <paramref name="mode"/> with a seeded profile (k 12, alpha 2).</summary>
    public static (PatchOutcome Outcome, List<string> Notes) Patch(string file, string mode, string folder)
    {
        var model = OnnxModel.Load(file);
        var profile = TestProfiles.Make(model, SiteFinder.Find(model).Sites, k: 12, alpha: 2);
        if (mode == "dynamic") profile = TestProfiles.WithSeededProbes(profile);
        var path = TestProfiles.Save(profile, folder, $"{mode}.json");
        var notes = new List<string>();
        var outcome = Steerer.Patch(file, path, Path.Combine(folder, mode), Options(mode) with { Notice = n => notes.Add(n.ToString()) });
        return (outcome, notes);
    }

    /// <summary>
    /// The steered model computes what it should: Mul and switchable (strength 1) the logits of the multiplication
    /// spliced in by hand, bit for bit; fold within the structure's tolerance of that; switchable at 0 the vanilla
    /// logits; dynamic something else than vanilla; and unpatch gives the original file back byte for byte.
    /// </summary>
    public static void SteeringIsTheMultiplicationByHand(ExportStructure structure, string mode, string folder)
    {
        var (outcome, notes) = Patch(structure.ModelFile, mode, folder);
        var steered = outcome.Written.ModelFile;
        var vanilla = Runs.Logits(structure.ModelFile);
        var logits = mode == "switchable" ? Runs.Logits(steered, strength: 1f) : Runs.Logits(steered);
        Assert.NotEqual(vanilla, logits);
        if (mode != "dynamic")
        {
            var expected = Runs.Logits(ByHand(structure.ModelFile, outcome.Plan, folder));
            if (mode == "fold")
            {
                Assert.Contains(outcome.Patch.Step.Edits, e => e.Kind == EditKind.Fold);
                var tolerance = structure.FoldTolerance * Math.Max(1, expected.Max(Math.Abs));
                var difference = expected.Zip(logits, (a, b) => Math.Abs((double)a - b)).Max();
                Assert.True(difference <= tolerance, $"fold vs Mul by hand: max |Δlogit| {difference:g3} > {tolerance:g3}; notes: {string.Join("; ", notes)}");
            }
            else Assert.Equal(expected, logits);
        }
        if (mode == "switchable")
        {
            // Strength 0 multiplies by exactly 1: the logits of ones spliced in by hand. (Against the vanilla file the
            // extra Mul nodes can change which kernels ONNX Runtime fuses: float16 graphs then differ in the last bit.)
            var atZero = Runs.Logits(steered, strength: 0f);
            Assert.Equal(Runs.Logits(ByHand(structure.ModelFile, outcome.Plan, folder, ones: true)), atZero);
            Assert.True(OrtHarness.MaxRelativeDifference(vanilla, atZero) <= 1e-3, "strength 0 vs vanilla");
        }

        var restored = Steerer.Unpatch(steered, Path.Combine(folder, "restored-" + mode)).Written.ModelFile;
        Assert.Equal(File.ReadAllBytes(structure.ModelFile), File.ReadAllBytes(restored));
    }

    /// <summary>The plan's vectors multiplied in by hand: attn/mlp values where the projection (or the node carrying the
    /// edge) reads them, mlp-out values right after their producer; in the site's element type. <paramref name="ones"/>:
    /// vectors of 1 instead (the same graph, multiplying by exactly 1).</summary>
    public static string ByHand(string file, SteeringPlan plan, string folder, bool ones = false)
    {
        var model = OnnxModel.Load(file);
        var proto = model.Proto.Clone();
        EmbedExternalData(proto.Graph, model);
        var g = proto.Graph;
        foreach (var (s, i) in plan.Sites.Select((s, i) => (s, i)))
        {
            g.Initializer.Add(Tensor($"hand{i}", s.Site.ElementType, s.Vector.Select(v => ones ? 1f : v).ToArray(), s.Vector.Length));
            if (s.Site.Kind == SiteKind.MlpOut)
                Append(g, s.Site.ValueName, Node("Mul", $"hand{i}/Mul", [$"hand{i}"], []));
            else
                Splice(g, Named(g, s.Site.EdgeNode ?? s.Site.ProjectionNode), s.Site.ValueName,
                    Node("Mul", $"hand{i}/Mul", [s.Site.ValueName, $"hand{i}"], [$"hand{i}/Mul/output_0"]));
        }
        var path = Path.Combine(folder, $"hand-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, proto.ToByteArray());
        return path;
    }

    /// <summary>onnxruntime-genai's greedy tokens for a folder (its own Model, Generator, max_length).</summary>
    public static IReadOnlyList<int> GenaiGreedy(string folder, int tokens)
    {
        using var model = new Microsoft.ML.OnnxRuntimeGenAI.Model(folder);
        using var parameters = new Microsoft.ML.OnnxRuntimeGenAI.GeneratorParams(model);
        parameters.SetSearchOption("max_length", Runs.Prompt.Length + tokens);
        parameters.SetSearchOption("do_sample", false);
        using var generator = new Microsoft.ML.OnnxRuntimeGenAI.Generator(model, parameters);
        generator.AppendTokens(Runs.Prompt);
        while (!generator.IsDone()) generator.GenerateNextToken();
        return generator.GetSequence(0)[Runs.Prompt.Length..].ToArray();
    }
}
