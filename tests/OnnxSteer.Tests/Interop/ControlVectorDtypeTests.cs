using OnnxSteer.Import;
using OnnxSteer.Interop;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Import;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Interop;

/// <summary>
/// Control vectors on reduced-precision models: stories260K in fp16 and int4 (MatMulNBits down projections) in both
/// export styles, and the real onnxruntime-genai fp16 export in ../shared. The offset is stored in the site's element
/// type, a zero vector changes nothing bitwise, and a nonzero one moves the logits as the C# reference with the same
/// offsets does, within bounds measured per dtype.
/// </summary>
public sealed class ControlVectorDtypeTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Models() => new()
    {
        "genai/fp16", "standard/fp16", "genai/int4", "standard/int4", "shared-genai-fp16",
    };

    private static (string Folder, int[] Prompt) Model(string name) => name == "shared-genai-fp16"
        ? (SharedData.TinyGenaiModelDir, [1, 450, 4996, 17354, 1701])
        : (ImportedModels.Get(name.Split('/')[0], name.Split('/')[1]), [1, 403, 407, 261, 378, 284, 2]);

    private string Vector(string name, int layers, int width, Func<int, float> value)
    {
        var path = _dir[name];
        var directions = Enumerable.Range(0, layers).ToDictionary(l => l, l => Enumerable.Range(0, width).Select(i => value(l * width + i)).ToArray());
        ControlVectorFile.Write(path, new ControlVector("llama", layers, directions));
        return path;
    }

    [SharedTheory]
    [MemberData(nameof(Models))]
    public void A_zero_vector_is_bitwise_neutral_and_a_random_one_moves_logits_with_offsets_stored_in_the_site_dtype(string name)
    {
        var (folder, prompt) = Model(name);
        var onnx = OnnxModel.Load(folder);
        var mlpOut = SiteFinder.Find(onnx).Sites.Where(s => s.Kind == SiteKind.MlpOut).ToList();
        int layers = mlpOut.Count, width = mlpOut[0].Width;

        Steerer.Patch(folder, Vector("zero.gguf", layers, width, _ => 0f), _dir["zero"], null);
        var rng = new Random(4);
        var randomValues = Enumerable.Range(0, layers * width).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var steered = Steerer.Patch(folder, Vector("rand.gguf", layers, width, i => randomValues[i]), _dir["rand"], null);

        // The inserted offsets hold the vector rounded to the site's element type.
        var patched = OnnxModel.Load(_dir["rand"]);
        foreach (var edit in steered.Patch.Step.Edits)
        {
            var site = mlpOut.Single(s => s.Id == edit.Site);
            var tensor = patched.Graph.Initializer.Single(t => t.Name == edit.Initializer);
            Assert.Equal(site.ElementType, tensor.DataType);
            var expected = randomValues.Skip(site.Layer * width).Take(width).Select(x => ElementEncoding.RoundTrip(x, site.ElementType));
            Assert.Equal(expected, ElementEncoding.Decode(patched.ReadBytes(tensor), site.ElementType));
        }

        using var vanilla = new OnnxLlamaRunner(folder);
        using var zero = new OnnxLlamaRunner(_dir["zero"]);
        using var moved = new OnnxLlamaRunner(_dir["rand"]);
        var a = vanilla.Logits(prompt);
        var b = zero.Logits(prompt);
        var c = moved.Logits(prompt);
        double change = 0;
        for (var p = 0; p < prompt.Length; p++)
        {
            Assert.Equal(a[p], b[p]);
            Assert.All(c[p], x => Assert.True(float.IsFinite(x)));
            change = Math.Max(change, a[p].Zip(c[p], (x, y) => Math.Abs(x - y)).Max());
        }
        output.WriteLine($"{name}: {layers} layers, width {width}, {mlpOut[0].ProjectionOpType}; a ±0.5 vector moved logits by up to {change:G3}");
        Assert.True(change > 1e-3, $"logits moved only {change}");
        if (name != "shared-genai-fp16") CompareWithReference(name, prompt, a, c, mlpOut, randomValues);
    }

    /// <summary>
    /// The steered stories260K model against the C# reference with the same offsets (rounded to the site's element type)
    /// added to each layer's output, where llama.cpp adds a control vector. Two numbers, each bounded by what is measured
    /// with a margin: the steered logits against the steered reference (the dtype's own error: fp16 weights round, int4
    /// weights quantise), and the vector's effect (steered minus vanilla) in ONNX against the same in the reference.
    /// </summary>
    private void CompareWithReference(string name, int[] prompt, float[][] vanilla, float[][] steered,
        IReadOnlyList<SteeringSite> sites, float[] values)
    {
        int width = sites[0].Width;
        var offsets = sites.ToDictionary(s => s.Layer,
            s => values.Skip(s.Layer * width).Take(width).Select(x => ElementEncoding.RoundTrip(x, s.ElementType)).ToArray());
        var reference = OnnxSteer.Tests.Reference.LlamaReference.Load(ImportedModels.CheckpointPath);
        var plain = reference.Forward(prompt).Logits;
        var moved = reference.Forward(prompt, offsets).Logits;
        double logitError = 0, effectError = 0, effect = 0, dot = 0, onnxNorm = 0, referenceNorm = 0;
        for (var p = 0; p < prompt.Length; p++)
            for (var v = 0; v < plain[p].Length; v++)
            {
                logitError = Math.Max(logitError, Math.Abs(steered[p][v] - moved[p][v]));
                double referenceEffect = moved[p][v] - plain[p][v], onnxEffect = steered[p][v] - vanilla[p][v];
                effect = Math.Max(effect, Math.Abs(referenceEffect));
                effectError = Math.Max(effectError, Math.Abs(onnxEffect - referenceEffect));
                dot += onnxEffect * referenceEffect;
                onnxNorm += onnxEffect * onnxEffect;
                referenceNorm += referenceEffect * referenceEffect;
            }
        var cosine = dot / Math.Sqrt(onnxNorm * referenceNorm);
        output.WriteLine($"{name}: max |steered onnx - steered reference| {logitError:G3}; max |onnx effect - reference effect| " +
                         $"{effectError:G3} (reference effect up to {effect:G3}); cosine of the effects {cosine:G6}");
        // Measured (logits span about -15..15, the effect reaches 10.6):
        //   fp16: logit error 0.018-0.019, effect error 0.021, cosine 0.999997 -> bounds 0.04, 0.04, 0.9999.
        //   int4: logit error 5.7, effect error 5.1-5.2, cosine 0.955-0.957 -> bounds 7, 6.5, 0.9: int4 weights move the
        //   logits by as much as the vector does, so the cosine carries the check (a zero, sign-flipped or misplaced
        //   vector gives a cosine near 0 or below).
        var (logitBound, effectBound, cosineFloor) = name.EndsWith("fp16", StringComparison.Ordinal) ? (0.04, 0.04, 0.9999) : (7.0, 6.5, 0.9);
        Assert.True(logitError <= logitBound, $"steered logits differ from the reference by {logitError:G3} > {logitBound}");
        Assert.True(effectError <= effectBound, $"the vector's effect differs from the reference's by {effectError:G3} > {effectBound}");
        Assert.True(cosine >= cosineFloor, $"the vector's effect points elsewhere than the reference's: cosine {cosine:G6} < {cosineFloor}");
    }
}
