using OnnxSteer.IO;
using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Sites;
using Xunit;

namespace OnnxSteer.Tests.Patching;

/// <summary>Output placement, external data sharing, sidecars, atomicity — on a decoder saved with external data.</summary>
public class SteeredModelWriterTests
{
    private static readonly SteeringProvenance Prov = new("austeer", 1, 1, null);

    /// <summary>TinyDecoder saved as model.onnx + model.onnx.data (every weight external) with a genai_config and a tokenizer.</summary>
    private static (TinyDecoder Decoder, OnnxModel Model) SaveExternal(string folder)
    {
        var d = new TinyDecoder();
        var path = Path.Combine(folder, "model.onnx");
        new OnnxModel(d.Proto.Clone()).Save(path, SaveOptions.External("model.onnx.data", threshold: 0));
        File.WriteAllText(Path.Combine(folder, "genai_config.json"), "{\"model\": {\"decoder\": {\"filename\": \"model.onnx\"}}}");
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), "{}");
        return (d, OnnxModel.Load(path));
    }

    private static PatchResult Patch(TinyDecoder d, OnnxModel model, bool fold) =>
        GraphPatcher.Apply(model, SteeringPlan.Scale(d.Sites(), [(SiteKind.Mlp, 0, 3, 0.5), (SiteKind.Attn, 0, 1, -0.5)], Prov), new PatchOptions(Fold: fold));

    private static string[] Snapshot(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Select(f => $"{Path.GetRelativePath(folder, f)}:{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f)))}")
            .Order().ToArray();

    [Fact]
    public void Same_folder_output_references_the_same_data_file()
    {
        using var tmp = new TempDir();
        var (d, model) = SaveExternal(tmp.Path);
        var before = Snapshot(tmp.Path);
        var result = SteeredModelWriter.Write(model, Patch(d, model, fold: false).Model, [], tmp["steered.onnx"]);
        Assert.Equal(tmp["steered.onnx"], result.ModelFile);
        Assert.Null(result.DataFile);
        Assert.Empty(result.Linked);
        var written = OnnxModel.Load(result.ModelFile);
        Assert.All(written.Graph.Initializer.Where(t => !t.Name.Contains("steer")), t =>
            Assert.Equal("model.onnx.data", t.ExternalData.Single(e => e.Key == "location").Value));
        // The input's files are unchanged; only the new model was added.
        Assert.Equal(before, Snapshot(tmp.Path).Where(s => !s.StartsWith("steered.onnx:")).ToArray());
        Assert.Equal(5, Directory.GetFiles(tmp.Path).Length); // model, data, genai_config, tokenizer + steered.onnx
    }

    [Fact]
    public void Other_folder_gets_hard_links_of_data_and_sidecars()
    {
        using var tmp = new TempDir();
        var src = Directory.CreateDirectory(tmp["in"]).FullName;
        var (d, model) = SaveExternal(src);
        var result = SteeredModelWriter.Write(model, Patch(d, model, fold: false).Model, [], tmp["out"]);
        Assert.Equal(Path.Combine(tmp["out"], "model.onnx"), result.ModelFile);
        Assert.Equal(["genai_config.json", "model.onnx.data", "tokenizer.json"], result.Linked.Order());
        Assert.Empty(result.Copied);
        Assert.Equal(File.ReadAllBytes(Path.Combine(src, "model.onnx.data")), File.ReadAllBytes(Path.Combine(tmp["out"], "model.onnx.data")));
        // A hard link: writing through one name shows through the other (checked on a scratch link of the same file).
        Assert.True(HardLinkShares(Path.Combine(src, "tokenizer.json"), Path.Combine(tmp["out"], "tokenizer.json")));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(tmp.Path), e => Path.GetFileName(e).StartsWith('.'));
    }

    private static bool HardLinkShares(string a, string b)
    {
        File.AppendAllText(b, " ");
        var shared = File.ReadAllText(a) == "{} ";
        File.WriteAllText(b, "{}");
        return shared;
    }

    [Fact]
    public void Fold_writes_only_the_changed_tensors_anew_and_unpatch_restores_the_original_references()
    {
        using var tmp = new TempDir();
        var src = Directory.CreateDirectory(tmp["in"]).FullName;
        var (d, model) = SaveExternal(src);
        var patch = Patch(d, model, fold: true);
        Assert.Equal("fold", patch.Step.Apply);
        var result = SteeredModelWriter.Write(model, patch.Model, patch.FoldedTensors, tmp["out/steered.onnx"]);
        Assert.Equal(Path.Combine(tmp["out"], "steered.onnx.steer.data"), result.DataFile);
        var steered = OnnxModel.Load(result.ModelFile);
        string Location(TensorProto t) => t.ExternalData.Single(e => e.Key == "location").Value;
        Assert.Equal(patch.FoldedTensors.Order(), steered.Graph.Initializer.Where(t => Location(t) == "steered.onnx.steer.data").Select(t => t.Name).Order());
        Assert.Equal(d.Proto.Graph.Initializer.Count - 2, steered.Graph.Initializer.Count(t => Location(t) == "model.onnx.data"));
        // Folded bytes read back equal the fold's in-memory result.
        foreach (var name in patch.FoldedTensors)
            Assert.Equal(patch.Model.Graph.Initializer.Single(t => t.Name == name).RawData.ToByteArray(),
                steered.ReadBytes(steered.Graph.Initializer.Single(t => t.Name == name)));

        // Unpatch into a third folder: the proto equals the original (same external references), the steer data is not carried.
        var restored = GraphUnpatcher.Remove(steered);
        Assert.Equal(model.Proto, restored.Proto);
        var back = SteeredModelWriter.Write(steered, restored, [], tmp["back"]);
        Assert.Equal(model.Proto, OnnxModel.Load(back.ModelFile).Proto);
        Assert.False(File.Exists(Path.Combine(tmp["back"], "steered.onnx.steer.data")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(src, "model.onnx.data")), File.ReadAllBytes(Path.Combine(tmp["back"], "model.onnx.data")));
    }

    [Fact]
    public void Writing_over_the_input_is_refused_and_nothing_is_written()
    {
        using var tmp = new TempDir();
        var (d, model) = SaveExternal(tmp.Path);
        var before = Snapshot(tmp.Path);
        var e = Assert.Throws<InvalidParameterException>(() => SteeredModelWriter.Write(model, Patch(d, model, false).Model, [], tmp.Path));
        Assert.Contains("input model itself", e.Message);
        Assert.Equal(before, Snapshot(tmp.Path));
    }

    [Fact]
    public void Error_while_writing_leaves_nothing_behind()
    {
        using var tmp = new TempDir();
        var src = Directory.CreateDirectory(tmp["in"]).FullName;
        var (d, model) = SaveExternal(src);
        File.Delete(Path.Combine(src, "model.onnx.data")); // the data file to carry is missing
        var e = Assert.Throws<InvalidModelException>(() => SteeredModelWriter.Write(model, Patch(d, model, false).Model, [], tmp["out/deep"]));
        Assert.Contains("model.onnx.data", e.Message);
        Assert.False(Directory.Exists(tmp["out"]));
        Assert.Equal(["in"], Directory.GetFileSystemEntries(tmp.Path).Select(Path.GetFileName));

        // Into an existing folder: temporary files are removed and existing files untouched.
        var existing = Directory.CreateDirectory(tmp["existing"]).FullName;
        File.WriteAllText(Path.Combine(existing, "keep.txt"), "x");
        Assert.Throws<InvalidModelException>(() => SteeredModelWriter.Write(model, Patch(d, model, false).Model, [], existing));
        Assert.Equal(["keep.txt"], Directory.GetFileSystemEntries(existing).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("out", "out/model.onnx")]
    [InlineData("out/", "out/model.onnx")]
    [InlineData("out/steered.onnx", "out/steered.onnx")]
    [InlineData("steered.onnx", "steered.onnx")]
    public void Output_is_a_folder_or_a_file(string output, string expected)
    {
        using var tmp = new TempDir();
        var (folder, file) = SteeredModelWriter.ResolveOutput(Path.Combine(tmp.Path, output), "/x/model.onnx");
        Assert.Equal(Path.Combine(tmp.Path, expected), file);
        Assert.Equal(Path.GetDirectoryName(file), folder);
    }
}
