using LLama;
using LLama.Common;
using LLama.Native;
using OnnxSteer.Generation;
using OnnxSteer.Import;
using OnnxSteer.HostFormats;
using OnnxSteer.Patching;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Hosts;

/// <summary>
/// llama.cpp (LLamaSharp 0.30 with its CPU backend) as an independent check of our GGUF interop: stories260K written as
/// a GGUF model (F32) by <see cref="GgufModelWriter"/> runs in llama.cpp with the same greedy tokens as our ONNX import,
/// and a control vector applied by llama.cpp itself (llama_set_adapter_cvec) gives the tokens and logits of
/// <c>onnxsteer patch MODEL cv.gguf</c>. llama.cpp runs with an F32 KV cache and flash attention off, so both sides do
/// fp32 arithmetic; the logits then agree to 1e-4 (by hand: max |Δ| 8.6e-6).
/// </summary>
public sealed class LlamaCppTests(ITestOutputHelper output) : IDisposable
{
    private const int Tokens = 40;
    private const double LogitTolerance = 1e-4;
    private readonly string _dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "onnxsteer-llamacpp-" + Guid.NewGuid().ToString("N"))).FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string WriteGguf()
    {
        var path = Path.Combine(_dir, "stories260K-f32.gguf");
        GgufModelWriter.Write(path, Llama2cCheckpoint.Load(ImportedModels.CheckpointPath),
            Llama2cTokenizerFile.Read(ImportedModels.TokenizerPath), "stories260K");
        return path;
    }

    /// <summary>llama.cpp's greedy run: the prompt in one batch, then one token per decode; logits of every step.</summary>
    private static (List<int> Tokens, List<float[]> Logits) LlamaGreedy(string gguf, IReadOnlyList<int> prompt, ControlVector? cvec = null, int layers = 5)
    {
        var parameters = new ModelParams(gguf)
        {
            ContextSize = 256, BatchSize = 256, UBatchSize = 256, GpuLayerCount = 0, Threads = 1,
            TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32, FlashAttention = false,
        };
        using var weights = LLamaWeights.LoadFromFile(parameters);
        using var context = weights.CreateContext(parameters);
        if (cvec is not null) Apply(context.NativeHandle, cvec, weights.EmbeddingSize, layers);

        var batch = new LLamaBatch();
        for (var i = 0; i < prompt.Count; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Count - 1);
        var tokens = new List<int>();
        var logits = new List<float[]>();
        var position = prompt.Count;
        for (var step = 0; step < Tokens; step++)
        {
            Assert.Equal(DecodeResult.Ok, context.NativeHandle.Decode(batch));
            var row = context.NativeHandle.GetLogitsIth(batch.TokenCount - 1).ToArray();
            logits.Add(row);
            var next = ArgMax(row);
            tokens.Add(next);
            batch.Clear();
            batch.Add(next, position++, LLamaSeqId.Zero, true);
        }
        return (tokens, logits);
    }

    /// <summary>
    /// llama_set_adapter_cvec takes one n_embd row per layer from layer 1 on (layer 0 never has a direction), applied to
    /// layers il_start..il_end — what llama.cpp's own --control-vector loader passes.
    /// </summary>
    private static unsafe void Apply(SafeLLamaContextHandle context, ControlVector cvec, int width, int layers)
    {
        var data = new float[width * layers];
        foreach (var (layer, direction) in cvec.Directions) direction.CopyTo(data, (layer - 1) * width);
        fixed (float* p = data)
            Assert.Equal(0, NativeApi.llama_set_adapter_cvec(context, p, (nuint)data.Length, width, 1, layers - 1));
    }

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        var best = 0;
        for (var i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }

    /// <summary>Our greedy tokens and the logits of each step (the whole sequence so far, last position).</summary>
    private static (IReadOnlyList<int> Tokens, List<float[]> Logits) Ours(string folder, IReadOnlyList<int> prompt)
    {
        using var model = DecoderModel.Open(folder);
        var tokens = new Generator(model) { EosTokenIds = [] }.Generate(prompt, new SamplingSettings { MaxTokens = Tokens }).GeneratedIds;
        var all = prompt.Concat(tokens).ToArray();
        var matrix = model.Forward(all);
        var logits = Enumerable.Range(prompt.Count - 1, Tokens).Select(p => matrix.Row(p).ToArray()).ToList();
        return (tokens, logits);
    }

    private double MaxDifference(List<float[]> a, List<float[]> b, int steps) =>
        Enumerable.Range(0, steps).Max(s => a[s].Zip(b[s], (x, y) => Math.Abs((double)x - y)).Max());

    [SharedFact]
    public void Llama_cpp_tokenizes_and_generates_like_our_onnx_import()
    {
        var gguf = WriteGguf();
        var folder = ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp32);
        const string text = "Once upon a time, Lily";
        var prompt = TokenizerLoader.Load(folder).EncodeToIds(text);
        using (var weights = LLamaWeights.LoadFromFile(new ModelParams(gguf) { GpuLayerCount = 0 }))
            Assert.Equal(prompt, weights.Tokenize(text, true, false, System.Text.Encoding.UTF8).Select(t => (int)t).ToArray());

        var (theirs, theirLogits) = LlamaGreedy(gguf, prompt);
        var (ours, ourLogits) = Ours(folder, prompt);
        var difference = MaxDifference(theirLogits, ourLogits, Tokens);
        output.WriteLine($"vanilla: {theirs.Zip(ours).Count(p => p.First == p.Second)}/{Tokens} tokens equal, max |Δlogit| {difference:g3}");
        Assert.Equal(ours, theirs);
        Assert.True(difference < LogitTolerance, $"max |Δlogit| {difference}");
    }

    [SharedFact]
    public void A_control_vector_applied_by_llama_cpp_equals_onnxsteer_patch_with_it()
    {
        var gguf = WriteGguf();
        var folder = ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp32);
        var rng = new Random(11);
        var directions = new[] { 1, 3, 4 }.ToDictionary(l => l, _ => Enumerable.Range(0, 64).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
        var cvec = new ControlVector("llama", directions.Count, directions);
        var cvFile = Path.Combine(_dir, "cv.gguf");
        ControlVectorFile.Write(cvFile, cvec);
        var steered = Path.Combine(_dir, "steered");
        Steerer.Patch(folder, cvFile, steered, null);

        var prompt = TokenizerLoader.Load(folder).EncodeToIds("Once upon a time");
        var (theirs, theirLogits) = LlamaGreedy(gguf, prompt, cvec);
        var (ours, ourLogits) = Ours(steered, prompt);
        var (vanilla, _) = Ours(folder, prompt);
        var difference = MaxDifference(theirLogits, ourLogits, Tokens);
        output.WriteLine($"control vector: {theirs.Zip(ours).Count(p => p.First == p.Second)}/{Tokens} tokens equal, max |Δlogit| {difference:g3}");
        Assert.NotEqual(vanilla, ours); // the vector must change the generation for the equality to mean something
        Assert.Equal(ours, theirs);
        Assert.True(difference < LogitTolerance, $"max |Δlogit| {difference}");
    }
}
