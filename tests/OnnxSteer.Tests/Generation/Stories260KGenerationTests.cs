using OnnxSteer.Generation;
using OnnxSteer.Import;
using OnnxSteer.Tests.Reference;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Generation;

/// <summary>
/// The real trained stories260K, imported to ONNX (genai layout with GroupQueryAttention; standard layout with
/// Optimum-like names), generated from with <see cref="Generator"/>.
/// </summary>
public class Stories260KGenerationTests(ITestOutputHelper output)
{
    [SharedTheory]
    [InlineData(ExportStyle.Genai)]
    [InlineData(ExportStyle.Standard)]
    internal void GreedyWithKvCache_EqualsRecomputedEachStep_AndTheCSharpReference(ExportStyle style)
    {
        var folder = ImportedModels.Get(style, ExportDType.Fp32);
        var tokenizer = TokenizerLoader.Load(folder);
        var prompt = tokenizer.EncodeToIds("Once upon a time");
        using var model = DecoderModel.Open(folder);
        var generator = new Generator(model) { EosTokenIds = [] };
        var options = new SamplingSettings { MaxTokens = 30 };
        var cached = generator.Generate(prompt, options);
        var recomputed = new Generator(model) { EosTokenIds = [], UseKvCache = false }.Generate(prompt, options);
        output.WriteLine($"{style}: {tokenizer.Decode([.. prompt, .. cached.GeneratedIds])}");
        Assert.Equal(30, cached.GeneratedIds.Count);
        Assert.Equal(recomputed.GeneratedIds, cached.GeneratedIds);

        // Independent check: the C# reference forward pass over the llama2.c checkpoint, greedy.
        var reference = LlamaReference.Load(ImportedModels.CheckpointPath).Greedy(prompt, 30);
        Assert.Equal(reference.Skip(reference.Count - 30), cached.GeneratedIds);
    }
}
