using System.Diagnostics;
using System.Text.Json;
using Google.Protobuf;
using Onnx;
using OnnxSteer.Cli.Commands;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Sites;

/// <summary><c>onnxsteer inspect</c> run as a real process: exit codes, stdout and stderr as a user sees them.</summary>
public class InspectCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("onnxsteer-inspect-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The command's body in-process, output captured (fast; exit-code mapping is checked by <see cref="InspectProcess"/>).</summary>
    private static (int Code, string Out, string Err) Inspect(string model, string? json = null)
    {
        var output = new StringWriter();
        try
        {
            return (new InspectCommand().Run(new InspectOptions(model, json == "--json"), new CommandIo(output, TextWriter.Null)), output.ToString(), "");
        }
        catch (OnnxSteerException e)
        {
            return (ErrorReporter.ExitCode(e), output.ToString(), e.Message);
        }
    }

    /// <summary>The real process, as a user runs it: exit code, stdout and stderr.</summary>
    private static (int Code, string Out, string Err) InspectProcess(params string[] args) => CliProcess.Run(null, ["inspect", .. args]);

    [SharedFact]
    public void JsonOnTheTinyGenaiExport()
    {
        var (code, stdout, stderr) = Inspect(SharedData.TinyGenaiModelDir, "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal("onnxsteer.inspect/1", root.GetProperty("schema").GetString());
        Assert.Equal(7, root.GetProperty("irVersion").GetInt64());

        // Sizes checked against the files themselves, read independently.
        var modelFile = Path.Combine(SharedData.TinyGenaiModelDir, "model.onnx");
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelFile));
        var lengths = proto.Graph.Initializer.Sum(t => long.Parse(t.ExternalData.Single(e => e.Key == "length").Value));
        var init = root.GetProperty("initializers");
        Assert.Equal(proto.Graph.Initializer.Count, init.GetProperty("externalCount").GetInt32());
        Assert.Equal(lengths, init.GetProperty("externalBytes").GetInt64());
        Assert.Equal(0, init.GetProperty("inlineBytes").GetInt64());
        var file = root.GetProperty("dataFiles").EnumerateArray().Single();
        Assert.Equal("model.onnx.data", file.GetProperty("location").GetString());
        Assert.Equal(new FileInfo(Path.Combine(SharedData.TinyGenaiModelDir, "model.onnx.data")).Length, file.GetProperty("sizeOnDisk").GetInt64());
        Assert.Equal(proto.Graph.Node.Count(n => n.OpType == "MatMul"),
            root.GetProperty("graph").GetProperty("opTypes").EnumerateArray().Single(o => o.GetProperty("opType").GetString() == "MatMul").GetProperty("count").GetInt32());
        var ids = root.GetProperty("inputs").EnumerateArray().Select(i => i.GetProperty("name").GetString()).ToList();
        Assert.Equal(["input_ids", "attention_mask", "position_ids", "past_key_values.0.key", "past_key_values.0.value", "past_key_values.1.key", "past_key_values.1.value"], ids);

        var counts = root.GetProperty("siteCounts");
        Assert.Equal([2, 2, 2], new[] { "attn", "mlp", "mlp-out" }.Select(k => counts.GetProperty(k).GetInt32()));
        var sites = root.GetProperty("sites").EnumerateArray().ToList();
        Assert.Equal(6, sites.Count);
        var mlp1 = sites.Single(s => s.GetProperty("id").GetString() == "mlp.1");
        Assert.Equal(64, mlp1.GetProperty("width").GetInt32());
        Assert.Equal("float16", mlp1.GetProperty("elementType").GetString());
        Assert.Equal(10, mlp1.GetProperty("elementTypeCode").GetInt32());
        Assert.Equal("/model/layers.1/mlp/down_proj/MatMul", mlp1.GetProperty("projectionNode").GetString());
        Assert.Equal("MatMul", mlp1.GetProperty("projectionOpType").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("error").ValueKind);
        Assert.Equal(0, root.GetProperty("warnings").GetArrayLength());
    }

    [SharedFact]
    public void TextOnTheTinyGenaiExport()
    {
        var (code, stdout, stderr) = Inspect(Path.Combine(SharedData.TinyGenaiModelDir, "model.onnx"));
        Assert.True(code == 0, stderr);
        Assert.Contains("sites:        6 (2 attn, 2 mlp, 2 mlp-out)", stdout);
        Assert.Contains("opsets:       ai.onnx 14, com.microsoft 1", stdout);
        Assert.Matches(@"mlp\.0\s+64\s+float16\s+MatMul\s+/model/layers\.0/mlp/down_proj/MatMul", stdout);
        Assert.Matches(@"model\.onnx\.data\s+23 tensors, 2130080 B", stdout);
    }

    [Fact]
    public void InlineWeightsAndMetadataOfABuiltModel()
    {
        var model = SiteGraphs.Gpt2(layers: 2, hidden: 16, heads: 2, gemm: false);
        model.MetadataProps.Add(new StringStringEntryProto { Key = "onnxsteer.steering", Value = "{\"k\":4}" });
        var path = Path.Combine(_dir, "gpt2.onnx");
        File.WriteAllBytes(path, model.ToByteArray());

        var (code, stdout, stderr) = Inspect(path, "--json");
        Assert.True(code == 0, stderr);
        var root = JsonDocument.Parse(stdout).RootElement;
        var init = root.GetProperty("initializers");
        Assert.Equal(model.Graph.Initializer.Sum(t => (long)t.RawData.Length), init.GetProperty("inlineBytes").GetInt64());
        Assert.Equal(0, init.GetProperty("externalCount").GetInt32());
        Assert.Equal(0, root.GetProperty("dataFiles").GetArrayLength());
        var meta = root.GetProperty("metadata").EnumerateArray().Single();
        Assert.Equal("onnxsteer.steering", meta.GetProperty("key").GetString());
        Assert.Equal("{\"k\":4}", meta.GetProperty("value").GetString());
        var mlpOut = root.GetProperty("sites").EnumerateArray().Single(s => s.GetProperty("id").GetString() == "mlp-out.1");
        Assert.Equal("/transformer/h.1/mlp/c_proj/Add", mlpOut.GetProperty("biasAddNode").GetString());
    }

    [Fact]
    public void NoSiteExitsNonZeroAfterTheSummary()
    {
        var path = Path.Combine(_dir, "misleading.onnx");
        File.WriteAllBytes(path, SiteGraphs.MisleadinglyNamed().ToByteArray());

        var (code, stdout, stderr) = InspectProcess(path, "--json");
        Assert.Equal(ExitCodes.InvalidInput, code);
        Assert.Contains("no steering site found: looked for attention output projections", stderr);
        var root = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(0, root.GetProperty("sites").GetArrayLength());
        Assert.Contains("no steering site found", root.GetProperty("error").GetString());
        Assert.Equal(2, root.GetProperty("warnings").GetArrayLength());

        var text = Inspect(path);
        Assert.Equal(ExitCodes.InvalidInput, text.Code);
        Assert.Contains("sites:        0 (0 attn, 0 mlp, 0 mlp-out)", text.Out);
    }

    [Fact]
    public void MissingFileIsAnInputError()
    {
        var (code, _, stderr) = InspectProcess(Path.Combine(_dir, "absent.onnx"));
        Assert.Equal(ExitCodes.InvalidInput, code);
        Assert.Contains("absent.onnx", stderr);
    }
}
