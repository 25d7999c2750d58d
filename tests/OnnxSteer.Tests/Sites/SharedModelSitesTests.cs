using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Sites;

/// <summary>Site detection on the real onnxruntime-genai export in ../shared.</summary>
public class SharedModelSitesTests
{
    [SharedFact]
    public void TinyGenaiExportHasTwoLayersOfEachSiteKind()
    {
        var model = OnnxModel.Load(Path.Combine(SharedData.TinyGenaiModelDir, "model.onnx"));
        // The intermediate size, read independently from the down projection's weight [intermediate, hidden].
        var down = model.Graph.Initializer.Single(t => t.Name == "model.layers.0.mlp.down_proj.MatMul.weight");
        var intermediate = (int)down.Dims[0];
        Assert.Equal(64, intermediate);
        Assert.Equal(16, (int)down.Dims[1]);

        var report = SiteFinder.Find(model);

        Assert.Equal(6, report.Sites.Count);
        Assert.Empty(report.Warnings);
        var fp16 = (int)TensorProto.Types.DataType.Float16;
        foreach (var layer in new[] { 0, 1 })
        {
            var attn = report.Find(SiteKind.Attn, layer)!;
            Assert.Equal(16, attn.Width);
            Assert.Equal(fp16, attn.ElementType);
            Assert.Equal($"/model/layers.{layer}/attn/o_proj/MatMul", attn.ProjectionNode);
            Assert.Equal("MatMul", attn.ProjectionOpType);
            Assert.Equal($"/model/layers.{layer}/attn/MultiHeadAttention/output_0", attn.ValueName);

            var mlp = report.Find(SiteKind.Mlp, layer)!;
            Assert.Equal(intermediate, mlp.Width);
            Assert.Equal(fp16, mlp.ElementType);
            Assert.Equal($"/model/layers.{layer}/mlp/down_proj/MatMul", mlp.ProjectionNode);
            Assert.Equal($"/model/layers.{layer}/mlp/Mul/output_0", mlp.ValueName);

            var mlpOut = report.Find(SiteKind.MlpOut, layer)!;
            Assert.Equal(16, mlpOut.Width);
            Assert.Equal(fp16, mlpOut.ElementType);
            Assert.Equal($"/model/layers.{layer}/mlp/down_proj/MatMul/output_0", mlpOut.ValueName);
            Assert.Null(mlpOut.BiasAddNode);
        }
        Assert.Equal(["attn.0", "attn.1", "mlp.0", "mlp.1", "mlp-out.0", "mlp-out.1"], report.Sites.Select(s => s.Id));
    }
}
