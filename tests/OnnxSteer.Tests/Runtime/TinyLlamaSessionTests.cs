using OnnxSteer.Runtime;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Runtime;

/// <summary>The real onnxruntime-genai export (fp16, external data, GroupQueryAttention) opens and runs.</summary>
public class TinyLlamaSessionTests
{
    private static string ModelPath => Path.Combine(SharedData.TinyGenaiModelDir, "model.onnx");

    [SharedFact]
    public void FromPath_ReadsSignatureAndRunsOnce()
    {
        using var session = new InferenceSession(ModelPath);
        Assert.Equal(new[] { "input_ids", "attention_mask", "position_ids", "past_key_values.0.key", "past_key_values.0.value", "past_key_values.1.key", "past_key_values.1.value" }, session.InputNames);
        Assert.Equal("logits", session.OutputNames[0]);
        var past = session.InputMetadata["past_key_values.0.key"];
        Assert.Equal(TensorElementType.Float16, past.ElementDataType);
        Assert.Equal(new[] { -1, 1, -1, 16 }, past.Dimensions);
        Assert.Equal("[batch_size,1,past_sequence_length,16]", past.ShapeText());
        Assert.Equal("batch_size", past.SymbolicDimensions[0]);

        using var outputs = RunPrompt(session, [1, 15043, 3186]);
        var logits = outputs["logits"];
        Assert.Equal(new long[] { 1, 3, 32000 }, logits.Shape());
        var values = logits.ToFloatArray();
        Assert.All(values, v => Assert.True(float.IsFinite(v)));
        Assert.True(values.Distinct().Count() > 1000, "logits look constant");
        Assert.Equal(new long[] { 1, 1, 3, 16 }, outputs["present.1.value"].Shape());
    }

    [SharedFact]
    public void FromBytes_WithExternalDataFolder_MatchesFromPath()
    {
        using var byPath = new InferenceSession(ModelPath);
        using var byBytes = RuntimeSettings.Default.OpenSession(File.ReadAllBytes(ModelPath), SharedData.TinyGenaiModelDir);
        using var a = RunPrompt(byPath, [1, 450, 4996]);
        using var b = RunPrompt(byBytes, [1, 450, 4996]);
        Assert.Equal(a["logits"].ToFloatArray(), b["logits"].ToFloatArray());
    }

    [SharedFact]
    public void FromBytes_WithoutExternalDataFolder_FailsWithOrtMessage()
    {
        var e = Assert.ThrowsAny<OrtException>(() => RuntimeSettings.Default.OpenSession(File.ReadAllBytes(ModelPath)));
        Assert.Equal(ExitCodes.Runtime, ErrorReporter.ExitCode(e));
        Assert.Contains("model.onnx.data", e.OrtMessage);
    }

    internal static RunOutputs RunPrompt(InferenceSession session, long[] ids)
    {
        var n = ids.Length;
        var values = new List<OrtValue>
        {
            OrtValue.CreateTensorValueFromMemory(ids, [1, n]),
            OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, n).ToArray(), [1, n]),
            OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, n).Select(i => (long)i).ToArray(), [1, n]),
        };
        for (var i = 0; i < 4; i++) values.Add(OrtValue.CreateTensorValueFromMemory(Array.Empty<Float16>(), [1, 1, 0, 16]));
        try
        {
            return session.RunNamed(session.InputNames, values, session.OutputNames);
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }
}
