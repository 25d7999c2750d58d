using OnnxSteer.Import;
using OnnxSteer.ModelFiles;
using OnnxSteer.Tests.Reference;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Import;

/// <summary>stories260K imported in every style and dtype, run through ONNX Runtime and checked against the C# reference.</summary>
public sealed class ImportedModelRuntimeTests(ITestOutputHelper output)
{
    private static readonly string[] Prompts =
    [
        "Once upon a time",
        "The little dog was sad because he lost his ball.",
        "Lily and Ben went to the park. They saw a big tree and",
    ];

    private static readonly Lazy<LlamaReference> Reference = new(() => LlamaReference.Load(ImportedModels.CheckpointPath));

    private static IReadOnlyList<int> Encode(string text) =>
        TokenizerLoader.Load(ImportedModels.Get(ExportStyle.Standard, ExportDType.Fp32)).EncodeToIds(text);

    [SharedTheory]
    [InlineData(ExportStyle.Genai)]
    [InlineData(ExportStyle.Standard)]
    internal void Fp32_logits_match_the_reference_within_1e_4_at_every_position_of_several_prompts(ExportStyle style)
    {
        using var runner = new OnnxLlamaRunner(ImportedModels.Get(style, ExportDType.Fp32));
        double worst = 0;
        int positions = 0;
        foreach (var prompt in Prompts)
        {
            var ids = Encode(prompt);
            var onnx = runner.Logits(ids);
            var expected = Reference.Value.Forward(ids).Logits;
            for (int p = 0; p < ids.Count; p++, positions++)
                for (int v = 0; v < expected[p].Length; v++) worst = Math.Max(worst, Math.Abs(onnx[p][v] - expected[p][v]));
        }
        output.WriteLine($"{style} fp32: max |onnx - reference| = {worst:G3} over {positions} positions x 512 logits");
        Assert.True(worst < 1e-4, $"max difference {worst}");
    }

    [SharedFact]
    public void Greedy_generation_from_once_upon_a_time_matches_the_reference_in_both_fp32_styles()
    {
        var prompt = Encode("Once upon a time");
        var expected = Reference.Value.Greedy(prompt, 40);
        var tokenizer = TokenizerLoader.Load(ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp32));
        output.WriteLine($"reference: {tokenizer.Decode(expected)}");
        foreach (var style in new[] { ExportStyle.Genai, ExportStyle.Standard })
        {
            using var runner = new OnnxLlamaRunner(ImportedModels.Get(style, ExportDType.Fp32));
            var generated = runner.Greedy(prompt, 40); // one token a step through the KV cache
            output.WriteLine($"{style,-8}:  {tokenizer.Decode(generated)}");
            Assert.Equal(expected, generated);
        }
        var text = tokenizer.Decode(expected);
        Assert.StartsWith("Once upon a time", text);
        Assert.Matches(@"^[A-Za-z ,.'!?""\n-]+$", text); // plain English text, no byte soup
    }

    /// <summary>
    /// fp16 and int4 against fp32 over the same 286 teacher-forced positions, bounded at what is measured with a stated
    /// margin (logits span about -15..15):
    /// fp16: top-1 agreement measured 100% (floor 99%, 2 flips); max |logit difference| 0.048 genai / 0.057 standard
    /// (bound 0.1); rms 0.0059 / 0.0068 (bound 0.012).
    /// int4: agreement 85.7% / 85.3% (floor 82%, about 10 positions); max 6.38 / 6.44 (bound 8); rms 1.34 / 1.34 (bound 1.6).
    /// A broken dequantisation, a scale applied to the wrong block or a dropped layer moves these far past the bounds.
    /// </summary>
    [SharedTheory]
    [InlineData(ExportStyle.Genai, ExportDType.Fp16, 0.99, 0.1, 0.012)]
    [InlineData(ExportStyle.Standard, ExportDType.Fp16, 0.99, 0.1, 0.012)]
    [InlineData(ExportStyle.Genai, ExportDType.Int4, 0.82, 8.0, 1.6)]
    [InlineData(ExportStyle.Standard, ExportDType.Int4, 0.82, 8.0, 1.6)]
    internal void Reduced_precision_logits_and_top1_agree_with_fp32_within_measured_bounds(
        ExportStyle style, ExportDType dtype, double agreementFloor, double maxLogitBound, double rmsLogitBound)
    {
        // Teacher-forced text: the reference's own 240-token story plus the test prompts.
        var texts = new List<IReadOnlyList<int>> { Reference.Value.Greedy(Encode("Once upon a time"), 240) };
        texts.AddRange(Prompts.Skip(1).Select(Encode));
        using var full = new OnnxLlamaRunner(ImportedModels.Get(style, ExportDType.Fp32));
        using var reduced = new OnnxLlamaRunner(ImportedModels.Get(style, dtype));
        int agree = 0, positions = 0;
        double worst = 0, squares = 0;
        long count = 0;
        foreach (var ids in texts)
        {
            var a = full.Logits(ids);
            var b = reduced.Logits(ids);
            for (int p = 0; p < ids.Count; p++, positions++)
            {
                if (OnnxLlamaRunner.ArgMax(a[p]) == OnnxLlamaRunner.ArgMax(b[p])) agree++;
                for (int v = 0; v < a[p].Length; v++, count++)
                {
                    double d = Math.Abs(a[p][v] - b[p][v]);
                    worst = Math.Max(worst, d);
                    squares += d * d;
                }
            }
        }
        double rate = (double)agree / positions, rms = Math.Sqrt(squares / count);
        output.WriteLine($"{style} {dtype}: top-1 agreement with fp32 {agree}/{positions} = {rate:P1}; " +
                         $"max |logit - fp32| {worst:G3}, rms {rms:G3}");
        Assert.True(positions >= 200);
        Assert.True(rate >= agreementFloor, $"top-1 agreement {rate:P1} below {agreementFloor:P0}");
        Assert.True(worst <= maxLogitBound, $"max logit difference {worst:G3} above {maxLogitBound}");
        Assert.True(rms <= rmsLogitBound, $"rms logit difference {rms:G3} above {rmsLogitBound}");
    }

    [SharedTheory]
    [InlineData(ExportStyle.Genai, ExportDType.Fp32)]
    [InlineData(ExportStyle.Genai, ExportDType.Fp16)]
    [InlineData(ExportStyle.Genai, ExportDType.Int4)]
    [InlineData(ExportStyle.Standard, ExportDType.Fp32)]
    [InlineData(ExportStyle.Standard, ExportDType.Fp16)]
    [InlineData(ExportStyle.Standard, ExportDType.Int4)]
    internal void Every_variant_runs_and_has_5_attn_sites_of_width_64_and_5_mlp_sites_of_width_172(ExportStyle style, ExportDType dtype)
    {
        var folder = ImportedModels.Get(style, dtype);
        var report = SiteFinder.Find(OnnxModel.Load(folder));
        Assert.Equal([0, 1, 2, 3, 4], report.OfKind(SiteKind.Attn).Select(s => s.Layer));
        Assert.All(report.OfKind(SiteKind.Attn), s => Assert.Equal(64, s.Width));
        Assert.Equal([0, 1, 2, 3, 4], report.OfKind(SiteKind.Mlp).Select(s => s.Layer));
        Assert.All(report.OfKind(SiteKind.Mlp), s => Assert.Equal(172, s.Width));

        using var runner = new OnnxLlamaRunner(folder);
        var generated = runner.Greedy(Encode("Once upon a time"), 8);
        Assert.Equal(Encode("Once upon a time").Count + 8, generated.Count);
        Assert.All(generated, id => Assert.InRange(id, 0, 511));
    }
}
