using OnnxSteer.ModelFiles;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Tests.Patching;

/// <summary>Profiles for tests: counts from seeded random "activations" over a model's own sites, then a real selection.</summary>
internal static class TestProfiles
{
    /// <summary>A profile of <paramref name="pairs"/> random pairs on <paramref name="sites"/>, selected with k and alpha.</summary>
    public static SteeringProfile Make(OnnxModel model, IReadOnlyList<SteeringSite> sites, int k, double alpha,
        SteeringMethod method = SteeringMethod.AuSteer, int pairs = 7, int seed = 3, IReadOnlyList<SiteKind>? kinds = null)
    {
        var counter = new MomentumCounter(sites.Select(ProfileSite.From));
        var rng = new Random(seed);
        float[] Row(int width) => Enumerable.Range(0, width).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        for (var p = 0; p < pairs; p++)
            counter.AddPair(sites.Select(s => Row(s.Width)).ToList(), sites.Select(s => Row(s.Width)).ToList());
        var profile = counter.ToProfile(ModelFingerprint.Compute(model, sites), method);
        return UnitSelector.Select(profile, k, alpha, kinds ?? sites.Select(s => s.Kind).Distinct().ToList(), false, method);
    }

    /// <summary>
    /// Adds seeded probes on every site of <paramref name="profile"/> (what <c>patch --dynamic</c> needs): weights of
    /// size 3/√width, so that on stories260K's activations the gates spread over (0, 1) rather than saturate. The site
    /// at <paramref name="lowAccuracySite"/> gets held-out accuracy 0.5, the others 0.9.
    /// </summary>
    public static SteeringProfile WithSeededProbes(SteeringProfile profile, int seed = 11, int lowAccuracySite = -1)
    {
        var rng = new Random(seed);
        profile.Probes = new ProbeSet
        {
            L2 = 0.01, HeldOutEvery = 5, TrainPairs = 4, HeldOutPairs = 1,
            Sites = profile.Sites.Select((s, i) => new LayerProbe
            {
                Site = s.Id, Layer = s.Layer, Bias = rng.NextDouble() - 0.5, TrainAccuracy = 1,
                HeldOutAccuracy = i == lowAccuracySite ? 0.5 : 0.9,
                Weights = Enumerable.Range(0, s.Width).Select(_ => (float)((rng.NextDouble() * 2 - 1) * 3 / Math.Sqrt(s.Width))).ToArray(),
            }).ToList(),
        };
        return profile;
    }

    /// <summary>Saves <paramref name="profile"/> to a temp file and returns its path.</summary>
    public static string Save(SteeringProfile profile, string folder, string name = "profile.json")
    {
        var path = Path.Combine(folder, name);
        profile.Save(path);
        return path;
    }
}

/// <summary>A temporary folder removed on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateDirectory(System.IO.Path.Combine(System.IO.Path.GetTempPath(), "onnxsteer-patch-" + Guid.NewGuid().ToString("N"))).FullName;

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
