using Microsoft.ML.OnnxRuntime;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// The newest onnxruntime-genai builder's CPU export of a model with sliding-window layers (Gemma-2 here): opset 21,
/// GroupQueryAttention with <c>sliding_window_cache = 1</c> on the local layers, whose KV buffers are window-sized,
/// and genai_config.json's decoder.sliding_window naming them. Steering is a graph edit away from the caches, so every
/// patch mode is checked here on a first pass fed as such a host feeds it (a window-sized past for the local layers).
/// Hosts that start from an empty past — OnnxSteer's loop, profiling, onnxruntime-genai 0.20 — are refused by ONNX
/// Runtime in one line naming the GroupQueryAttention node and why; the builder's <c>windowed_kv_cache=false</c>
/// export (the same graph without the attribute: genai-gemma2) profiles, and its profile patches this file with force.
/// </summary>
public class LatestBuilderTests
{
    private const int Window = 6;

    /// <summary>Logits of <see cref="Runs.Prompt"/> in one pass, the local layers' past a window-sized buffer (as a windowed host allocates it).</summary>
    private static float[] Logits(string file, float? strength = null)
    {
        var model = OnnxModel.Load(file);
        var ids = Runs.Prompt.Select(i => (long)i).ToArray();
        var inputs = new Dictionary<string, OrtValue>
        {
            ["input_ids"] = OrtValue.CreateTensorValueFromMemory(ids, [1, ids.Length]),
            ["attention_mask"] = OrtValue.CreateTensorValueFromMemory(ids.Select(_ => 1L).ToArray(), [1, ids.Length]),
        };
        if (strength is { } s) inputs[SwitchableSteering.StrengthName] = OrtValue.CreateTensorValueFromMemory(new[] { s }, SwitchableSteering.StrengthShape);
        foreach (var input in model.Graph.Input.Where(i => i.Name.StartsWith("past_key_values.")))
        {
            var capacity = input.Type.TensorType.Shape.Dim[2].DimParam.Contains("sliding") ? Window : 0;
            var (heads, size) = (input.Type.TensorType.Shape.Dim[1].DimValue, input.Type.TensorType.Shape.Dim[3].DimValue);
            inputs[input.Name] = OrtValue.CreateTensorValueFromMemory(new float[heads * capacity * size], [1, heads, capacity, size]);
        }
        try { return OrtHarness.Run(model.Proto, model.BaseDirectory, inputs, ["logits"], (int)Onnx.TensorProto.Types.DataType.Float)["logits"]; }
        finally { foreach (var v in inputs.Values) v.Dispose(); }
    }

    [SharedTheory]
    [InlineData("mul"), InlineData("fold"), InlineData("switchable"), InlineData("dynamic")]
    public void Each_patch_mode_steers_the_windowed_cache_export_as_the_multiplication_by_hand(string mode)
    {
        var structure = ExportStructures.Get("genai-sliding-window-cache");
        var graph = OnnxModel.Load(structure.ModelFile).Graph;
        var gqa = graph.Node.Where(n => n.OpType == "GroupQueryAttention").ToList();
        Assert.Equal([1L, 0L], gqa.Select(n => n.Attribute.SingleOrDefault(a => a.Name == "sliding_window_cache")?.I ?? 0));
        Assert.Equal("past_sliding_length", graph.Input.Single(i => i.Name == "past_key_values.0.key").Type.TensorType.Shape.Dim[2].DimParam);
        Assert.Contains("\"sliding_window\"", File.ReadAllText(Path.Combine(Path.GetDirectoryName(structure.ModelFile)!, "genai_config.json")));
        ConformanceChecks.Sites(structure.ModelFile);

        using var tmp = new TempDir();
        var (outcome, _) = ConformanceChecks.Patch(structure.ModelFile, mode, tmp.Path);
        var steered = outcome.Written.ModelFile;
        var vanilla = Logits(structure.ModelFile);
        // The windowed export computes what the same graph without the attribute computes.
        Assert.Equal(Runs.Logits(ExportStructures.Get("genai-gemma2").ModelFile), vanilla);
        var logits = Logits(steered, mode == "switchable" ? 1f : null);
        Assert.NotEqual(vanilla, logits);
        if (mode != "dynamic")
        {
            var expected = Logits(ConformanceChecks.ByHand(structure.ModelFile, outcome.Plan, tmp.Path));
            if (mode == "fold") Assert.True(OrtHarness.MaxRelativeDifference(expected, logits) <= 1e-4, "fold vs Mul by hand");
            else Assert.Equal(expected, logits);
        }
        if (mode == "switchable") Assert.Equal(Logits(ConformanceChecks.ByHand(structure.ModelFile, outcome.Plan, tmp.Path, ones: true)), Logits(steered, 0f));
        var restored = Steerer.Unpatch(steered, tmp["restored"]).Written.ModelFile;
        Assert.Equal(File.ReadAllBytes(structure.ModelFile), File.ReadAllBytes(restored));
    }

    [SharedFact]
    public void Hosts_that_start_from_an_empty_past_are_refused_in_one_line_and_the_opt_out_exports_profile_patches_it()
    {
        var structure = ExportStructures.Get("genai-sliding-window-cache");
        foreach (var run in new Action[] { () => Runs.Greedy(structure.ModelFile, 2), () => ConformanceChecks.RecordingEqualsAPlainRun(structure.ModelFile) })
        {
            var message = Assert.Throws<OnnxSteer.Runtime.OrtException>(run).Message;
            Assert.Contains("GroupQueryAttention node. Name:'/model/layers.0/attn/GroupQueryAttention'", message);
            Assert.Contains("sliding_window_cache: KV cache capacity (0) must be at least local_window_size (6)", message);
            Assert.DoesNotContain('\n', message);
        }

        // A profile of the windowed_kv_cache=false export (same weights and sites; the fingerprint differs by the attribute).
        var optOut = OnnxModel.Load(ExportStructures.Get("genai-gemma2").ModelFile);
        using var tmp = new TempDir();
        var profile = TestProfiles.Save(TestProfiles.Make(optOut, OnnxSteer.Sites.SiteFinder.Find(optOut).Sites, k: 12, alpha: 2), tmp.Path);
        Assert.Throws<InvalidProfileException>(() => Steerer.Patch(structure.ModelFile, profile, tmp["refused"], new PatchSettings()));
        var outcome = Steerer.Patch(structure.ModelFile, profile, tmp["forced"], new PatchSettings { Force = true });
        Assert.Equal(Logits(ConformanceChecks.ByHand(structure.ModelFile, outcome.Plan, tmp.Path)), Logits(outcome.Written.ModelFile));
    }
}
