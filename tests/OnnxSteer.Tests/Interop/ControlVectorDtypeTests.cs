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
/// type, a zero vector changes nothing bitwise, and a nonzero one moves the logits.
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

        ModelPatcher.Patch(new PatchJob(folder, Vector("zero.gguf", layers, width, _ => 0f), _dir["zero"], new PlanRequest(), new PatchOptions(false)));
        var rng = new Random(4);
        var randomValues = Enumerable.Range(0, layers * width).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var steered = ModelPatcher.Patch(new PatchJob(folder, Vector("rand.gguf", layers, width, i => randomValues[i]), _dir["rand"],
            new PlanRequest(), new PatchOptions(false)));

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
    }
}
