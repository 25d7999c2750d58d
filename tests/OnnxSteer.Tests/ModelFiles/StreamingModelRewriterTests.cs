using System.Security.Cryptography;
using Google.Protobuf;
using Onnx;
using OnnxSteer.Import;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.ModelFiles;

/// <summary>
/// The streaming rewrite (lean load, then copy large initializers through as byte ranges) against the ordinary path
/// (full load, the same change, <c>WriteTo</c>). The comparison is byte-for-byte whenever the source file is itself the
/// canonical Google.Protobuf encoding of its model (then the ordinary path reproduces the source's tensor bytes, so any
/// difference would be a streaming bug); for a non-canonical source the copied tensors keep the source's encoding, so
/// only protobuf equality is required there (and checked). Every test also checks that the source file is unchanged.
/// </summary>
public sealed class StreamingModelRewriterTests
{
    private static readonly string LibOnnx = "/usr/share/libonnx-testdata/data";

    /// <summary>The same edit a patch makes, done to either model: a node, a new small initializer, metadata.</summary>
    private static void Edit(ModelProto proto)
    {
        var graph = proto.Graph;
        var first = graph.Input.Count > 0 ? graph.Input[0].Name : graph.Node.Count > 0 ? graph.Node[0].Input.FirstOrDefault() ?? "x" : "x";
        var scale = TensorData.FromFloats("onnxsteer_test.scale", [3], [1f, 2f, 3f]);
        graph.Initializer.Add(scale);
        graph.Node.Insert(0, TestModels.Node("Identity", [first], ["onnxsteer_test/out"], "onnxsteer_test/Identity"));
        proto.MetadataProps.Add(new StringStringEntryProto { Key = "onnxsteer.test", Value = "streamed" });
    }

    private static byte[] Ordinary(string path)
    {
        var model = OnnxModel.Load(path);
        var proto = model.Proto.Clone();
        Edit(proto);
        return proto.ToByteArray();
    }

    private static (byte[] Bytes, OnnxModel Lean) Streamed(string path, long minBytes)
    {
        var lean = StreamingModelRewriter.LoadLean(path, minBytes);
        var proto = lean.Proto.Clone();
        Edit(proto);
        using var output = new MemoryStream();
        StreamingModelRewriter.Write(lean, proto, output);
        return (output.ToArray(), lean);
    }

    private static bool IsCanonical(string path)
    {
        var bytes = File.ReadAllBytes(path);
        return bytes.AsSpan().SequenceEqual(ModelProto.Parser.ParseFrom(bytes).ToByteArray());
    }

    /// <summary>Compares the two paths on one model file; returns how many initializers were streamed.</summary>
    private static int CheckSame(string path, long minBytes)
    {
        var before = SHA256.HashData(File.ReadAllBytes(path));
        var ordinary = Ordinary(path);
        var (streamed, lean) = Streamed(path, minBytes);
        Assert.Equal(ModelProto.Parser.ParseFrom(ordinary), ModelProto.Parser.ParseFrom(streamed));
        if (IsCanonical(path)) Assert.True(ordinary.AsSpan().SequenceEqual(streamed), $"{path}: streamed bytes differ from the ordinary save");
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(path)));
        return lean.Streamed?.Tensors.Count ?? 0;
    }

    private static List<string> LibOnnxModels()
    {
        var models = new List<string>();
        foreach (var dir in new[] { "pytorch-converted", "pytorch-operator", "simple" })
        {
            var folder = Path.Combine(LibOnnx, dir);
            if (!Directory.Exists(folder)) continue;
            foreach (var m in Directory.EnumerateDirectories(folder).Order(StringComparer.Ordinal))
                if (File.Exists(Path.Combine(m, "model.onnx"))) models.Add(Path.Combine(m, "model.onnx"));
        }
        return models;
    }

    [Fact]
    public void LibOnnxTestdata_models_stream_to_the_same_bytes_as_the_ordinary_path()
    {
        var models = LibOnnxModels();
        Assert.True(models.Count > 50, $"expected the libonnx-testdata package under {LibOnnx}");
        var streamedTensors = 0;
        var canonical = 0;
        foreach (var m in models)
        {
            var path = m;
            streamedTensors += CheckSame(path, minBytes: 1);
            if (IsCanonical(path)) canonical++;
        }
        // Most of these files hold weights (Conv, BatchNorm, Linear ...): the streaming path must really be exercised.
        Assert.True(streamedTensors > 60, $"only {streamedTensors} initializers were streamed");
        Assert.True(canonical > models.Count / 2, $"only {canonical} of {models.Count} files are canonical: the byte comparison ran too rarely");
    }

    [Fact]
    public void Lean_load_leaves_large_raw_data_in_the_file_and_reading_it_gives_the_original_bytes()
    {
        using var tmp = new TempFolder();
        var proto = TestModels.MatMulAdd(weightRows: 64, weightCols: 32); // W: 8 KiB of raw_data, B: float_data
        var path = TestModels.Write(proto, tmp["model.onnx"]);
        var lean = StreamingModelRewriter.LoadLean(path, minStreamedBytes: 1024);

        Assert.True(StreamingModelRewriter.IsStreamed(lean));
        var w = lean.Graph.Initializer.Single(t => t.Name == "W");
        Assert.False(w.HasRawData);
        Assert.True(ExternalDataReference.IsExternal(w));
        Assert.Equal(proto.Graph.Initializer[0].RawData.ToByteArray(), lean.ReadBytes(w));
        var b = lean.Graph.Initializer.Single(t => t.Name == "B");
        Assert.False(ExternalDataReference.IsExternal(b)); // typed field, never streamed
        Assert.Equal(proto.Graph.Initializer[1].FloatData, b.FloatData);

        // Above the threshold: nothing streamed, an ordinary model.
        Assert.False(StreamingModelRewriter.IsStreamed(StreamingModelRewriter.LoadLean(path, minStreamedBytes: 1 << 20)));
        Assert.Equal(1, CheckSame(path, minBytes: 1024));
    }

    [Fact]
    public void A_streamed_tensor_that_was_changed_is_embedded_from_the_source_and_one_that_was_removed_is_dropped()
    {
        using var tmp = new TempFolder();
        var proto = TestModels.MatMulAdd(weightRows: 16, weightCols: 8);
        var extra = TensorData.FromFloats("Unused", [300], Enumerable.Range(0, 300).Select(i => (float)i).ToArray());
        proto.Graph.Initializer.Add(extra);
        var path = TestModels.Write(proto, tmp["model.onnx"]);

        var lean = StreamingModelRewriter.LoadLean(path, minStreamedBytes: 64);
        Assert.Equal(2, lean.Streamed!.Tensors.Count);
        var edited = lean.Proto.Clone();
        edited.Graph.Initializer.Single(t => t.Name == "W").Name = "W2";
        edited.Graph.Initializer.Remove(edited.Graph.Initializer.Single(t => t.Name == "Unused"));
        using var output = new MemoryStream();
        StreamingModelRewriter.Write(lean, edited, output);

        var expected = proto.Clone();
        expected.Graph.Initializer.Single(t => t.Name == "W").Name = "W2";
        expected.Graph.Initializer.Remove(expected.Graph.Initializer.Single(t => t.Name == "Unused"));
        Assert.Equal(expected.ToByteArray(), output.ToArray());
    }

    [Fact]
    public void A_source_file_that_changes_between_load_and_write_is_refused()
    {
        using var tmp = new TempFolder();
        var path = TestModels.Write(TestModels.MatMulAdd(16, 8), tmp["model.onnx"]);
        var lean = StreamingModelRewriter.LoadLean(path, minStreamedBytes: 64);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes.Concat(new byte[] { 0x50, 0x01 }).ToArray()); // a trailing field: still a model
        var e = Assert.Throws<OnnxSteerException>(() => StreamingModelRewriter.Write(lean, lean.Proto, new MemoryStream()));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void A_truncated_file_is_refused_naming_the_file()
    {
        using var tmp = new TempFolder();
        var bytes = TestModels.MatMulAdd(64, 32).ToByteArray();
        var path = tmp["model.onnx"];
        File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
        var e = Assert.Throws<InvalidModelException>(() => StreamingModelRewriter.LoadLean(path, 64));
        Assert.Contains(path, e.Message);
    }

    /// <summary>stories260K (imported from ../shared) saved inline: the full patch flow (lean load, plan, Mul insertion,
    /// streaming write) against the ordinary load → GraphPatcher.Apply → WriteTo with the same plan.</summary>
    [SharedFact]
    public void Stories260K_inline_patch_streams_to_the_same_bytes_as_the_ordinary_path()
    {
        using var tmp = new TempFolder();
        var inline = tmp["inline/model.onnx"];
        Directory.CreateDirectory(Path.GetDirectoryName(inline)!);
        OnnxModel.Load(ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp32)).Save(inline);
        var before = SHA256.HashData(File.ReadAllBytes(inline));

        var full = OnnxModel.Load(inline);
        var sites = SiteFinder.Find(full).Sites;
        var profilePath = TestProfiles.Save(TestProfiles.Make(full, sites, k: 20, alpha: 2), tmp.Path);
        var outcome = Steerer.Patch(inline, profilePath, tmp["out"], null);

        var plan = SteeringPlanner.Plan(new SteeringTarget(full), new ProfileFile(profilePath), PatchRequest.Default).Plan;
        var expected = GraphPatcher.Apply(full, plan, PatchOptions.Default).Model.Proto.ToByteArray();
        var written = File.ReadAllBytes(outcome.Written.ModelFile);

        Assert.True(IsCanonical(inline));
        Assert.Equal(expected, written);
        Assert.Equal(["model.onnx"], Directory.EnumerateFiles(tmp["out"]).Select(Path.GetFileName).Where(n => n!.EndsWith(".onnx")).ToList());
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(inline)));
        // The lean load really streamed the large weights (the embedding is 512 x 64 floats = 128 KiB).
        Assert.True(StreamingModelRewriter.LoadLean(inline).Streamed!.Tensors.Count >= 1);
        // And lower the threshold to stream every weight: still the same bytes.
        Assert.True(CheckSame(inline, minBytes: 1) > 10);
    }
}
