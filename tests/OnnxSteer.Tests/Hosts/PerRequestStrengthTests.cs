using OnnxSteer.Generation;
using OnnxSteer.HostFormats;
using OnnxSteer.Patching;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Ort = Microsoft.ML.OnnxRuntime;

namespace OnnxSteer.Tests.Hosts;

/// <summary>
/// The strength of a <c>patch --switchable</c> model changed per request in the hosts users deploy: an .onnx_adapter
/// holding <c>onnxsteer.strength</c> activated per generator in onnxruntime-genai, and in a plain ONNX Runtime session
/// either the same adapter on the RunOptions or the strength fed by name. Strength 0 gives the vanilla model's tokens;
/// strength s gives the tokens of the model patched at s·alpha (same units).
/// </summary>
public sealed class PerRequestStrengthTests : IDisposable
{
    private const float Strength = 2.5f;
    private readonly string _dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "onnxsteer-strength-" + Guid.NewGuid().ToString("N"))).FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Adapter(float strength)
    {
        var path = Path.Combine(_dir, $"strength-{strength}.onnx_adapter");
        OnnxAdapterFile.Write(path, [StrengthAdapter.Parameter(strength)]);
        return path;
    }

    private sealed record Expected(IReadOnlyList<int> Prompt, IReadOnlyList<int> Vanilla, IReadOnlyList<int> AtOne, IReadOnlyList<int> Scaled);

    /// <summary>Our tokens for the vanilla model, the switchable one at its default, and a plain patch at s·alpha.</summary>
    private static Expected Expect(string source)
    {
        var prompt = HostRuns.Prompt(SteeredVariants.Source(source));
        var expected = new Expected(prompt,
            HostRuns.Ours(SteeredVariants.Source(source), prompt),
            HostRuns.Ours(SteeredVariants.Get(source, PatchMode.Switchable), prompt),
            HostRuns.Ours(SteeredVariants.PatchedAt(source, Strength * SteeredVariants.Alpha), prompt));
        // Three different generations, or the equalities below could not tell the strengths apart.
        Assert.NotEqual(expected.Vanilla, expected.AtOne);
        Assert.NotEqual(expected.Vanilla, expected.Scaled);
        Assert.NotEqual(expected.AtOne, expected.Scaled);
        return expected;
    }

    [SharedTheory]
    [InlineData("genai/fp32")]
    [InlineData("standard/int4")]
    [InlineData(SteeredVariants.SharedGenai)]
    public void Genai_adapters_set_the_strength_per_generator_concurrently(string source)
    {
        var e = Expect(source);
        var zero = Adapter(0);
        var scaled = Adapter(Strength);
        using var engine = GenaiHost.Open(SteeredVariants.Get(source, PatchMode.Switchable));
        var options = new SamplingSettings { MaxTokens = HostRuns.NewTokens };

        // One model, three generators at once: no adapter, strength 0, strength 2.5; each sees only its own.
        var runs = new[] { (string?)null, zero, scaled, zero, scaled }
            .Select(adapter => Task.Run(() => engine.Collect(e.Prompt, options, adapter is null ? null : engine.UseAdapterFile(adapter), null, default).GeneratedIds))
            .ToArray();
        Task.WaitAll(runs);
        Assert.Equal(e.AtOne, runs[0].Result);
        Assert.Equal(e.Vanilla, runs[1].Result);
        Assert.Equal(e.Scaled, runs[2].Result);
        Assert.Equal(e.Vanilla, runs[3].Result);
        Assert.Equal(e.Scaled, runs[4].Result);
    }

    [SharedTheory]
    [InlineData("genai/fp32")]
    [InlineData("standard/fp32")]
    public void Plain_onnx_runtime_takes_the_strength_by_name_or_as_an_adapter(string source)
    {
        var e = Expect(source);
        using var ort = new PlainOrtGreedy(Path.Combine(SteeredVariants.Get(source, PatchMode.Switchable), "model.onnx"));
        Assert.Contains(SwitchableSteering.StrengthName, ort.OverridableInitializers);
        var count = HostRuns.NewTokens;

        Assert.Equal(e.AtOne, ort.Generate(e.Prompt, count));
        Assert.Equal(e.Vanilla, ort.Generate(e.Prompt, count, new Dictionary<string, float[]> { [SwitchableSteering.StrengthName] = [0f] }));
        Assert.Equal(e.Scaled, ort.Generate(e.Prompt, count, new Dictionary<string, float[]> { [SwitchableSteering.StrengthName] = [Strength] }));

        using var zero = Ort.OrtLoraAdapter.Create(File.ReadAllBytes(Adapter(0)), null)  /* null: the tensors stay in CPU memory */;
        using var scaled = Ort.OrtLoraAdapter.Create(File.ReadAllBytes(Adapter(Strength)), null)  /* null: the tensors stay in CPU memory */;
        Assert.Equal(e.Vanilla, ort.Generate(e.Prompt, count, adapter: zero));
        Assert.Equal(e.Scaled, ort.Generate(e.Prompt, count, adapter: scaled));
    }
}
