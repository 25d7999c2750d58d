using System.Text;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using Xunit;

namespace OnnxSteer.Tests.Profiles;

/// <summary>The copy re-selection starts from keeps every field but the selection, and shares no array with its source.</summary>
public sealed class ProfileCopyTests
{
    [Fact]
    public void A_copy_without_selection_keeps_every_other_field_including_an_imported_control_vector()
    {
        var profile = ProfileFixtures.Hand();
        profile.ModelFile = "model.onnx";
        profile.Source = "pairs.jsonl";
        profile.Shards = ["0/2"];
        profile.Truncated = 3;
        profile.SkippedBad = 1;
        profile.Method = SteeringMethod.Caa;
        profile.ControlVector = new ControlVectorOrigin { File = "happy.gguf", ModelHint = "llama", LayerCount = 5 };
        profile = UnitSelector.Select(profile, 2, 5, [SiteKind.Attn], false, SteeringMethod.Caa, 0, [0]);
        Assert.NotEmpty(profile.Caa);

        var copy = profile.CloneWithoutSelection();

        Assert.Empty(copy.Caa);
        var expected = profile.Clone();
        expected.Units = [];
        expected.Caa = [];
        Assert.Equal(Json(expected), Json(copy));
        Assert.Equal("happy.gguf", copy.ControlVector?.File);
    }

    [Fact]
    public void The_copy_shares_no_statistics_array_with_its_source()
    {
        var profile = ProfileFixtures.Hand();
        var copy = profile.CloneWithoutSelection();
        copy.Counts[0].Positive[0] = 99;
        copy.Counts[0].SumDiff![0] = 99;
        Assert.Equal(3, profile.Counts[0].Positive[0]);
        Assert.NotEqual(99, profile.Counts[0].SumDiff![0]);
    }

    private static string Json(SteeringProfile p) => Encoding.UTF8.GetString(ProfileJson.Serialize(p));
}
