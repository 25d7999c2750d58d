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
