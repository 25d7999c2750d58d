using OnnxSteer.Tests.Infrastructure;
using System.Diagnostics;
using System.Text.Json;
using Xunit;

namespace OnnxSteer.Tests.Diffing;

/// <summary>The command as a user runs it: exit status like diff(1), JSON on stdout, plain text when piped.</summary>
public class DiffCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliProcess.Run(DiffFixtures.Folder, args);

    [Fact]
    public void Exit_status_is_0_identical_1_different_3_bad_input()
    {
        var same = Run("diff", "base.onnx", "unpatched.onnx");
        Assert.Equal(0, same.Code);
        Assert.Contains("The models are identical.", same.Out);

        var steered = Run("diff", "base.onnx", "steered.onnx");
        Assert.Equal(1, steered.Code);
        Assert.Equal(File.ReadAllText(Path.Combine(DiffFixtures.Folder, "steered.expected.txt")), steered.Out);
        Assert.False(steered.Out.Contains('\u001b'), "piped output must carry no colour codes");

        // A missing model is bad input, 3, as for every command (README "Exit codes"); not 2, an I/O failure.
        var missing = Run("diff", "base.onnx", "no-such.onnx");
        Assert.Equal(3, missing.Code);
        Assert.Contains("no-such.onnx", missing.Err);
    }

    [Fact]
    public void Json_output_is_the_documented_schema()
    {
        var r = Run("diff", "--json", "base.onnx", "folded.onnx");
        Assert.Equal(1, r.Code);
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal("onnxsteer.diff/1", doc.RootElement.GetProperty("schema").GetString());
        Assert.False(doc.RootElement.GetProperty("identical").GetBoolean());
        Assert.True(doc.RootElement.GetProperty("steering").GetProperty("rest_unchanged").GetBoolean());
        Assert.Equal(File.ReadAllText(Path.Combine(DiffFixtures.Folder, "folded.expected.json")), r.Out);
    }
}
