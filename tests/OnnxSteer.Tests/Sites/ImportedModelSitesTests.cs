using Onnx;
using OnnxSteer.Import;
using OnnxSteer.ModelFiles;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Sites;

/// <summary>Site detection on models the importer writes: stories260K in both styles and all dtypes, and a synthetic model at a larger shape.</summary>
public class ImportedModelSitesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("onnxsteer-sites-import-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The stories260K header (7 int32: dim, hidden_dim, n_layers, ...), read independently of the importer.</summary>
    private static int[] Stories260KHeader()
    {
        using var reader = new BinaryReader(File.OpenRead(Path.Combine(SharedData.Stories260KDir, "stories260K.bin")));
        return Enumerable.Range(0, 7).Select(_ => reader.ReadInt32()).ToArray();
    }

    [SharedTheory]
    [InlineData(ExportStyle.Genai, ExportDType.Fp32)]
    [InlineData(ExportStyle.Genai, ExportDType.Fp16)]
    [InlineData(ExportStyle.Genai, ExportDType.Int4)]
    [InlineData(ExportStyle.Standard, ExportDType.Fp32)]
    [InlineData(ExportStyle.Standard, ExportDType.Fp16)]
    [InlineData(ExportStyle.Standard, ExportDType.Int4)]
    internal void Stories260KHasFiveLayersOfSites(ExportStyle style, ExportDType dtype)
    {
        var header = Stories260KHeader();
        Assert.Equal([64, 172, 5], header[..3]); // dim, hidden_dim, n_layers as SOURCES.md states
        // The import is shared with other tests (one per run and variant).
        var folder = ImportedModels.Get(style, dtype);

        var report = SiteFinder.Find(OnnxModel.Load(folder));

        Assert.Empty(report.Warnings);
        var activation = (int)(dtype == ExportDType.Fp16 ? TensorProto.Types.DataType.Float16 : TensorProto.Types.DataType.Float);
        AssertLayers(report, SiteKind.Attn, layers: 5, width: 64, activation);
        AssertLayers(report, SiteKind.Mlp, layers: 5, width: 172, activation);
        AssertLayers(report, SiteKind.MlpOut, layers: 5, width: 64, activation);
        var (attnName, expectedOp) = (style == ExportStyle.Genai ? "attn" : "self_attn",
            style == ExportStyle.Genai && dtype == ExportDType.Int4 ? "MatMulNBits" : "MatMul");
        var attn3 = report.Find(SiteKind.Attn, 3)!;
        Assert.Equal($"/model/layers.3/{attnName}/o_proj/{expectedOp}", attn3.ProjectionNode);
        Assert.Equal("/model/layers.4/mlp/down_proj/" + expectedOp, report.Find(SiteKind.Mlp, 4)!.ProjectionNode);
        Assert.All(report.Sites, s => Assert.Equal(expectedOp, s.ProjectionOpType));
    }

    // One variant only: writing the weights dominates the test's time; the six small variants above cover the styles.
    [Theory]
    [InlineData(ExportStyle.Genai, ExportDType.Int4)]
    internal void SyntheticModelAtALargerShape(ExportStyle style, ExportDType dtype)
    {
        var config = new LlamaConfig(Dim: 512, HiddenDim: 1376, Layers: 4, Heads: 8, KvHeads: 2, VocabSize: 320, MaxSequenceLength: 128);
        var result = SyntheticModel.Write(config, seed: 7, Path.Combine(_dir, "synth"), style, dtype);

        var report = SiteFinder.Find(OnnxModel.Load(result.ModelPath));

        Assert.Empty(report.Warnings);
        var activation = (int)(dtype == ExportDType.Fp16 ? TensorProto.Types.DataType.Float16 : TensorProto.Types.DataType.Float);
        AssertLayers(report, SiteKind.Attn, layers: 4, width: 512, activation);
        AssertLayers(report, SiteKind.Mlp, layers: 4, width: 1376, activation);
        AssertLayers(report, SiteKind.MlpOut, layers: 4, width: 512, activation);
    }

    private static void AssertLayers(SiteReport report, SiteKind kind, int layers, int width, int elementType)
    {
        var sites = report.OfKind(kind);
        Assert.Equal(Enumerable.Range(0, layers), sites.Select(s => s.Layer));
        Assert.All(sites, s => Assert.Equal(width, s.Width));
        Assert.All(sites, s => Assert.Equal(elementType, s.ElementType));
    }
}
