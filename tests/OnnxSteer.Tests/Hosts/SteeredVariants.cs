using System.Collections.Concurrent;
using OnnxSteer.Import;
using OnnxSteer.Interop;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;

namespace OnnxSteer.Tests.Hosts;

/// <summary>How a host-test model was steered.</summary>
public enum PatchMode
{
    /// <summary>Not steered: the imported (or shared) model itself.</summary>
    Vanilla,
    /// <summary>AUSteer scale vectors as inserted Mul nodes.</summary>
    Mul,
    /// <summary>The same scale vectors folded into the projection weights.</summary>
    Fold,
    /// <summary>A control vector (GGUF) added at the layer outputs (Add nodes).</summary>
    Add,
    /// <summary>The Mul steering with <c>--switchable</c> (overridable vectors, strength input at its default 1).</summary>
    Switchable,
}

/// <summary>
/// Steered copies of the models the host tests run, patched once per test run and per (source, mode) into a temporary
/// folder removed at exit. Sources are stories260K imports (<see cref="ImportedModels"/>) named "style/dtype" and the
/// shared onnxruntime-genai export, named <see cref="SharedGenai"/>. Treat the folders as read-only.
/// </summary>
public static class SteeredVariants
{
    /// <summary>The source name of ../shared/models/tiny-random-llama-genai-fp16.</summary>
    public const string SharedGenai = "shared/genai-fp16";

    /// <summary>Every stories260K import the host tests cover, plus the shared genai export.</summary>
    public static readonly string[] Sources =
        ["genai/fp32", "genai/fp16", "genai/int4", "standard/fp32", "standard/fp16", "standard/int4", SharedGenai];

    /// <summary>The profile's alpha (k 12 units per site; strength s gives alpha s·Alpha).</summary>
    public const double Alpha = 4;

    private static readonly string Root = Path.Combine(Path.GetTempPath(), $"onnxsteer-hosts-{Environment.ProcessId}-{Guid.NewGuid():N}");
    private static readonly ConcurrentDictionary<(string, PatchMode), Lazy<string>> Folders = new();
    private static readonly ConcurrentDictionary<string, Lazy<string>> Profiles = new();

    static SteeredVariants()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true); }
            catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
    }

    /// <summary>The unsteered model folder of <paramref name="source"/>.</summary>
    public static string Source(string source)
    {
        if (source == SharedGenai) return SharedData.TinyGenaiModelDir;
        var parts = source.Split('/');
        return ImportedModels.Get(parts[0], parts[1]);
    }

    /// <summary>The folder of <paramref name="source"/> steered as <paramref name="mode"/>.</summary>
    public static string Get(string source, PatchMode mode) =>
        mode == PatchMode.Vanilla ? Source(source)
            : Folders.GetOrAdd((source, mode), key => new Lazy<string>(() => Patch(key.Item1, key.Item2))).Value;

    /// <summary>The AUSteer profile (random counts over the model's own sites, real selection) of <paramref name="source"/>.</summary>
    public static string Profile(string source) =>
        Profiles.GetOrAdd(source, s => new Lazy<string>(() =>
        {
            var model = OnnxModel.Load(Path.Combine(Source(s), "model.onnx"));
            var folder = Directory.CreateDirectory(Path.Combine(Root, Safe(s))).FullName;
            return TestProfiles.Save(TestProfiles.Make(model, SiteFinder.Find(model).Sites, k: 12, alpha: Alpha), folder);
        })).Value;

    /// <summary>
    /// <paramref name="source"/> patched <c>--dynamic</c>: the same selection as <see cref="Profile"/>, plus seeded probes
    /// on every site (<see cref="TestProfiles.WithSeededProbes"/>), so each site's steering is scaled by its gate.
    /// </summary>
    public static string Dynamic(string source)
    {
        var output = Path.Combine(Root, Safe(source), "dynamic");
        return Folders.GetOrAdd(($"{source}#dynamic", PatchMode.Mul), _ => new Lazy<string>(() =>
        {
            var model = OnnxModel.Load(Path.Combine(Source(source), "model.onnx"));
            var profile = TestProfiles.WithSeededProbes(TestProfiles.Make(model, SiteFinder.Find(model).Sites, k: 12, alpha: Alpha));
            var probed = TestProfiles.Save(profile, Directory.CreateDirectory(Path.Combine(Root, Safe(source))).FullName, "probed.json");
            Steerer.Patch(Source(source), probed, output, new PatchSettings { Dynamic = true });
            return output;
        })).Value;
    }

    /// <summary>A plain (Mul) patch of <paramref name="source"/> at <paramref name="alpha"/> with the profile's units.</summary>
    public static string PatchedAt(string source, double alpha)
    {
        var output = Path.Combine(Root, Safe(source), $"mul-alpha-{alpha:R}");
        return Folders.GetOrAdd(($"{source}@{alpha:R}", PatchMode.Mul), _ => new Lazy<string>(() =>
        {
            Steerer.Patch(Source(source), Profile(source), output, new PatchSettings { Alpha = alpha });
            return output;
        })).Value;
    }

    private static string Patch(string source, PatchMode mode)
    {
        var output = Path.Combine(Root, Safe(source), mode.ToString().ToLowerInvariant());
        var steering = mode == PatchMode.Add ? ControlVectorFor(source) : Profile(source);
        var options = new PatchSettings { Fold = mode == PatchMode.Fold, Switchable = mode == PatchMode.Switchable };
        Steerer.Patch(Source(source), steering, output, options);
        return output;
    }

    /// <summary>
    /// A control vector for the model's residual width: seeded directions, entries uniform in ±0.5 (hidden states are
    /// O(1) in both models), on layers 1, 3, 4 of stories260K or layer 1 of the 2-layer shared model.
    /// </summary>
    private static string ControlVectorFor(string source)
    {
        var (layers, width) = source == SharedGenai ? (new[] { 1 }, 16) : (new[] { 1, 3, 4 }, 64);
        var rng = new Random(7);
        var directions = layers.ToDictionary(l => l, _ => Enumerable.Range(0, width).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
        var path = Path.Combine(Directory.CreateDirectory(Path.Combine(Root, Safe(source))).FullName, "cv.gguf");
        ControlVectorFile.Write(path, new ControlVector("llama", layers.Length, directions));
        return path;
    }

    private static string Safe(string source) => source.Replace('/', '-');
}
