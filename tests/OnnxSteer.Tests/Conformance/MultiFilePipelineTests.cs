using Microsoft.ML.OnnxRuntime;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Recording;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// A multi-file onnxruntime-genai pipeline (genai_config.json with decoder, embedding and vision sections; the decoder
/// takes inputs_embeds): the folder resolves to the decoder file, which is steered in every mode — its logits, fed the
/// embedding model's output, are the multiplication by hand — and the steered folder keeps the other models. Profiling
/// it is refused in one line (its pairs are token ids; the embeddings come from the other file); so is OnnxSteer's loop.
/// </summary>
public class MultiFilePipelineTests
{
    /// <summary>Logits of <see cref="Runs.Prompt"/>: the pipeline's embedding.onnx, then the decoder with an empty past.</summary>
    private static float[] Logits(string decoderFile, string folder, float? strength = null)
    {
        var ids = Runs.Prompt.Select(i => (long)i).ToArray();
        var embedding = OnnxModel.Load(Path.Combine(folder, "embedding.onnx"));
        float[] embeds;
        using (var input = OrtValue.CreateTensorValueFromMemory(ids, [1, ids.Length]))
            embeds = OrtHarness.Run(embedding.Proto, folder, new Dictionary<string, OrtValue> { ["input_ids"] = input }, ["inputs_embeds"], 1)["inputs_embeds"];
        var model = OnnxModel.Load(decoderFile);
        var inputs = new Dictionary<string, OrtValue>
        {
            ["inputs_embeds"] = OrtValue.CreateTensorValueFromMemory(embeds, [1, ids.Length, embeds.Length / ids.Length]),
            ["attention_mask"] = OrtValue.CreateTensorValueFromMemory(ids.Select(_ => 1L).ToArray(), [1, ids.Length]),
        };
        if (strength is { } s) inputs[SwitchableSteering.StrengthName] = OrtValue.CreateTensorValueFromMemory(new[] { s }, SwitchableSteering.StrengthShape);
        foreach (var past in model.Graph.Input.Where(i => i.Name.StartsWith("past_key_values.")))
        {
            var dims = past.Type.TensorType.Shape.Dim;
            inputs[past.Name] = OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [1, dims[1].DimValue, 0, dims[3].DimValue]);
        }
        try { return OrtHarness.Run(model.Proto, model.BaseDirectory, inputs, ["logits"], 1)["logits"]; }
        finally { foreach (var v in inputs.Values) v.Dispose(); }
    }

    [SharedTheory]
    [InlineData("mul"), InlineData("fold"), InlineData("switchable"), InlineData("dynamic")]
    public void The_decoder_of_the_pipeline_is_found_and_steered_in_each_mode(string mode)
    {
        var structure = ExportStructures.Get("genai-multi-file");
        var folder = Path.GetDirectoryName(structure.ModelFile)!;
        Assert.Equal(Path.Combine(folder, "decoder.onnx"), ModelLocator.Resolve(folder));
        Assert.Contains(OnnxModel.Load(folder).Graph.Input, i => i.Name == "inputs_embeds");
        ConformanceChecks.Sites(structure.ModelFile);

        using var tmp = new TempDir();
        var (outcome, _) = ConformanceChecks.Patch(folder, mode, tmp.Path);
        var steered = outcome.Written.ModelFile;
        Assert.Equal("decoder.onnx", Path.GetFileName(steered));
        var steeredFolder = Path.GetDirectoryName(steered)!;
        Assert.All(new[] { "embedding.onnx", "vision.onnx", "genai_config.json" }, f => Assert.True(File.Exists(Path.Combine(steeredFolder, f)), f));

        var vanilla = Logits(structure.ModelFile, folder);
        var logits = Logits(steered, steeredFolder, mode == "switchable" ? 1f : null);
        Assert.NotEqual(vanilla, logits);
        if (mode != "dynamic")
        {
            var expected = Logits(ConformanceChecks.ByHand(structure.ModelFile, outcome.Plan, folder), folder);
            if (mode == "fold") Assert.True(OrtHarness.MaxRelativeDifference(expected, logits) <= 1e-4, "fold vs Mul by hand");
            else Assert.Equal(expected, logits);
        }
        if (mode == "switchable") Assert.Equal(Logits(ConformanceChecks.ByHand(structure.ModelFile, outcome.Plan, folder, ones: true), folder), Logits(steered, steeredFolder, 0f));
        var restored = Steerer.Unpatch(steered, tmp["restored"]).Written.ModelFile;
        Assert.Equal(File.ReadAllBytes(structure.ModelFile), File.ReadAllBytes(restored));
    }

    [SharedFact]
    public void Profiling_and_our_loop_refuse_a_decoder_fed_inputs_embeds_in_one_line()
    {
        var structure = ExportStructures.Get("genai-multi-file");
        var model = OnnxModel.Load(structure.ModelFile);
        var error = Assert.Throws<InvalidModelException>(() => new ActivationRecorder(model, OnnxSteer.Sites.SiteFinder.Find(model).Sites));
        Assert.Equal(ActivationRecorder.InputsEmbedsRefusal(model.FilePath), error.Message);
        Assert.Contains("takes inputs_embeds, not input_ids", error.Message);
        var loop = Assert.Throws<InvalidModelException>(() => Runs.Greedy(structure.ModelFile, 2)).Message;
        Assert.Contains("no input named input_ids", loop);
        Assert.Contains("inputs_embeds", loop);
        Assert.DoesNotContain('\n', error.Message + loop);
    }
}
