using System.Text.Json;
using OnnxSteer.ModelFiles;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tests.Patching;
using Xunit;

namespace OnnxSteer.Tests.Profiles;

/// <summary>
/// <see cref="ProfileJson.LoadSelection"/>: what patch uses to apply a stored selection. It must read exactly what
/// <see cref="ProfileJson.Load"/> reads apart from the counts, and refuse to be re-selected or saved.
/// </summary>
public class LoadSelectionTests
{
    [SharedFact]
    public void Reads_everything_but_the_counts_and_cannot_be_reselected_or_saved()
    {
        var folder = ImportedModels.Get("genai", "fp32");
        var model = OnnxModel.Load(Path.Combine(folder, "model.onnx"));
        using var tmp = new TempDir();
        var path = TestProfiles.Save(TestProfiles.Make(model, SiteFinder.Find(model).Sites, k: 9, alpha: 3), tmp.Path);

        var full = ProfileJson.Load(path);
        var lean = ProfileJson.LoadSelection(path);
        Assert.False(full.CountsOmitted);
        Assert.True(lean.CountsOmitted);
        Assert.Empty(lean.Counts);
        Assert.NotEmpty(full.Counts);

        // Apart from the counts, the two are the same profile: compare their JSON with the counts emptied.
        full.Counts = [];
        Assert.Equal(JsonSerializer.Serialize(full), JsonSerializer.Serialize(lean));
        Assert.Equal(27, lean.Units.Count); // k 9 of each of the three kinds

        Assert.Throws<InvalidOperationException>(() => lean.Save(tmp["again.json"]));
        Assert.Throws<ArgumentException>(() => OnnxSteer.Patching.SteeringPlanner.Plan(new OnnxSteer.Patching.SteeringTarget(model),
            new OnnxSteer.Patching.InMemoryProfile(lean), (new PatchSettings { K = 3 }).Request));
    }

    [Fact]
    public void Only_the_top_level_counts_is_skipped_and_bad_json_is_still_reported()
    {
        using var tmp = new TempDir();
        var bad = tmp["bad.json"];
        File.WriteAllText(bad, "{\"schema\": \"onnxsteer.profile/1\", \"counts\": [1, 2");
        var e = Assert.Throws<InvalidProfileException>(() => ProfileJson.LoadSelection(bad));
        Assert.Contains(bad, e.Message);

        // A "counts" key inside another object is not the profile's counts: the real one is still required.
        var nested = tmp["nested.json"];
        File.WriteAllText(nested, "{\"schema\": \"onnxsteer.profile/1\", \"selection\": {\"counts\": []}}");
        Assert.Throws<InvalidProfileException>(() => ProfileJson.LoadSelection(nested));
    }
}
