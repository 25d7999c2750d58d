using Onnx;
using OnnxSteer.Import;
using OnnxSteer.ModelFiles;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Import;

/// <summary>Checks of exported graphs and files that need no runtime: names, ops, external data, memory.</summary>
public sealed class ExportStructureTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"onnxsteer-export-{Guid.NewGuid():N}");
    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); }

    private static readonly GenaiConfigTokens Tokens = new(1, 2, 0);

    [Theory]
    [InlineData(ExportStyle.Genai, ExportDType.Fp32)]
    [InlineData(ExportStyle.Genai, ExportDType.Int4)]
    [InlineData(ExportStyle.Standard, ExportDType.Fp16)]
    [InlineData(ExportStyle.Standard, ExportDType.Int4)]
    internal void Every_initializer_is_external_and_lies_inside_the_data_file(ExportStyle style, ExportDType dtype)
    {
        var config = new LlamaConfig(64, 96, 2, 4, 2, 300, 32);
        var result = LlamaOnnxExporter.Export(new SyntheticLlamaWeights(config, 3), _dir, style, dtype, Tokens);
        var model = OnnxModel.Load(result.ModelPath);
        long dataLength = new FileInfo(result.DataPath).Length;
        Assert.Equal(result.DataBytes, dataLength);
        Assert.NotEmpty(model.Graph.Initializer);
        foreach (var t in model.Graph.Initializer)
        {
            Assert.Equal(TensorProto.Types.DataLocation.External, t.DataLocation);
            var entries = t.ExternalData.ToDictionary(e => e.Key, e => e.Value);
            Assert.Equal("model.onnx.data", entries["location"]);
            long offset = long.Parse(entries["offset"]), length = long.Parse(entries["length"]);
            Assert.Equal(0, offset % ExternalDataWriter.DefaultAlignment);
            Assert.True(offset + length <= dataLength, $"{t.Name} ends past the data file");
        }
        Assert.True(File.Exists(Path.Combine(_dir, "genai_config.json")));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp")); // atomic writes left nothing behind
    }

    [Fact]
    public void Genai_style_uses_the_builders_ops_and_names()
    {
        // Head size 16: GroupQueryAttention with fused interleaved rotary.
        var config = new LlamaConfig(64, 96, 2, 4, 2, 300, 32);
        var model = OnnxModel.Load(LlamaOnnxExporter.Export(new SyntheticLlamaWeights(config, 3), _dir, ExportStyle.Genai, ExportDType.Int4, Tokens).ModelPath);
        var nodes = model.Graph.Node.ToDictionary(n => n.Name);
        var gqa = nodes["/model/layers.1/attn/GroupQueryAttention"];
        Assert.Equal(("com.microsoft", "GroupQueryAttention"), (gqa.Domain, gqa.OpType));
        Assert.Equal(1, gqa.Attribute.Single(a => a.Name == "rotary_interleaved").I);
        Assert.Equal(2, gqa.Attribute.Single(a => a.Name == "kv_num_heads").I);
        Assert.Equal("MatMulNBits", nodes["/model/layers.0/mlp/down_proj/MatMulNBits"].OpType);
        Assert.Equal("MatMulNBits", nodes["/model/layers.0/attn/o_proj/MatMulNBits"].OpType);
        Assert.Equal(32, nodes["/model/layers.0/attn/o_proj/MatMulNBits"].Attribute.Single(a => a.Name == "block_size").I);
        Assert.Equal("SkipSimplifiedLayerNormalization", nodes["/model/layers.1/input_layernorm/SkipLayerNorm"].OpType);
        Assert.Equal("SimplifiedLayerNormalization", nodes["/model/layers.0/input_layernorm/LayerNorm"].OpType);
        Assert.Equal("Sigmoid", nodes["/model/layers.0/mlp/act_fn/Sigmoid"].OpType);
        Assert.Equal(["input_ids", "attention_mask", "past_key_values.0.key", "past_key_values.0.value", "past_key_values.1.key", "past_key_values.1.value"],
            model.Graph.Input.Select(i => i.Name));
        Assert.Equal(["logits", "present.0.key", "present.0.value", "present.1.key", "present.1.value"], model.Graph.Output.Select(o => o.Name));
    }

    [Fact]
    public void Standard_style_uses_only_default_domain_ops_and_optimum_names()
    {
        var config = new LlamaConfig(64, 96, 2, 8, 4, 300, 32);
        var model = OnnxModel.Load(LlamaOnnxExporter.Export(new SyntheticLlamaWeights(config, 3), _dir, ExportStyle.Standard, ExportDType.Int4, Tokens).ModelPath);
        Assert.All(model.Graph.Node, n => Assert.Equal("", n.Domain));
        Assert.DoesNotContain(model.Proto.OpsetImport, o => o.Domain == "com.microsoft");
        var names = model.Graph.Node.Select(n => n.Name).ToHashSet();
        Assert.Contains("/model/layers.1/self_attn/o_proj/MatMul", names);
        Assert.Contains("/model/layers.1/mlp/down_proj/MatMul", names);
        Assert.Contains("/model/layers.1/self_attn/Softmax", names);
        Assert.Contains("/model/layers.1/mlp/down_proj/DequantizeLinear", names);
        Assert.Contains("position_ids", model.Graph.Input.Select(i => i.Name));
    }

    [Fact]
    public void Synthetic_export_streams_allocating_far_less_than_the_model_size()
    {
        // One layer 1024 wide with a 2816-wide MLP and 4000 tokens, fp16: ~ 42 MB of weights in a dozen tensors. Working
        // memory is per tensor (row buffers, the data writer's 1 MB copy buffer), never a whole tensor or model, so
        // everything allocated during the export (an upper bound on what was live at once) stays well below its size.
        var config = new LlamaConfig(1024, 2816, 1, 16, 16, 4000, 256);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var result = LlamaOnnxExporter.Export(new SyntheticLlamaWeights(config, 1), _dir, ExportStyle.Genai, ExportDType.Fp16, Tokens);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"data {result.DataBytes / 1e6:F1} MB, allocated on this thread {allocated / 1e6:F1} MB");
        Assert.True(result.DataBytes > 40_000_000);
        Assert.True(allocated < result.DataBytes / 3, $"allocated {allocated} bytes for {result.DataBytes} bytes of weights");
    }
}
