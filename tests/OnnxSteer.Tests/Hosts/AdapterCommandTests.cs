using OnnxSteer.Cli;
using OnnxSteer.HostFormats;
using OnnxSteer.Patching;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Hosts;

/// <summary>
/// <c>onnxsteer adapter</c> and <see cref="OnnxAdapterFile"/>: the file is what ONNX Runtime reads (the genai and plain
/// ONNX Runtime tests load it); here the command's contract and the writer's refusals.
/// </summary>
public sealed class AdapterCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "onnxsteer-adapter-" + Guid.NewGuid().ToString("N"))).FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [SharedFact]
    public void Writes_the_strength_adapter_for_a_switchable_model_and_refuses_others()
    {
        var file = Path.Combine(_dir, "half.onnx_adapter");
        var (code, stdout, stderr) = CliProcess.Run(null, "adapter", SteeredVariants.Get("genai/fp32", PatchMode.Switchable), "--strength", "0.5", "-o", file);
        Assert.True(code == 0, stderr);
        Assert.Contains("onnxsteer.strength = 0.5", stdout);
        Assert.Equal(OnnxAdapterFile.ToBytes([StrengthAdapter.Parameter(0.5f)]), File.ReadAllBytes(file));

        var refused = Path.Combine(_dir, "refused.onnx_adapter");
        (code, _, stderr) = CliProcess.Run(null, "adapter", SteeredVariants.Get("genai/fp32", PatchMode.Mul), "--strength", "2", "-o", refused);
        Assert.Equal(ExitCodes.InvalidInput, code);
        Assert.StartsWith("onnxsteer: error: ", stderr);
        Assert.Contains("not a switchable model", stderr);
        Assert.False(File.Exists(refused));
    }

    [Fact]
    public void The_writer_lays_out_the_flatbuffer_and_refuses_what_onnx_runtime_would()
    {
        var bytes = OnnxAdapterFile.ToBytes([StrengthAdapter.Parameter(2f)]);
        Assert.Equal("TORT"u8.ToArray(), bytes[4..8]);
        Assert.Equal(0, bytes.Length % 8);
        // The float sits 8-byte aligned at the end of the buffer's last vector (force_align: 8 in the schema).
        var at = Array.LastIndexOf(bytes, (byte)0x40);
        Assert.Equal(2f, BitConverter.ToSingle(bytes, at - 3));
        Assert.Equal(0, (at - 3) % 8);

        Assert.Throws<ArgumentException>(() => OnnxAdapterFile.ToBytes([]));
        Assert.Throws<ArgumentException>(() => OnnxAdapterFile.ToBytes([new OnnxAdapterParameter("s", [], 1, new byte[4])]));
        Assert.Throws<ArgumentException>(() => OnnxAdapterFile.ToBytes([new OnnxAdapterParameter("s", [2], 1, new byte[4])]));
        var p = StrengthAdapter.Parameter(1f);
        Assert.Throws<ArgumentException>(() => OnnxAdapterFile.ToBytes([p, p]));
    }
}
