using System.Text;
using System.Text.Json.Nodes;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using Xunit;
using static OnnxSteer.Tests.Profiles.ProfileFixtures;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Profiles;

public class ProfileJsonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("onnxsteer-profile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static SteeringProfile Selected() => UnitSelector.Select(Hand(), 3, 10, [SiteKind.Attn, SiteKind.Mlp], false, SteeringMethod.AuSteer);

    [Fact]
    public void Save_then_load_round_trips_exactly_and_leaves_no_temporary_file()
    {
        var path = Path.Combine(_dir, "p.json");
        var p = Selected();
        p.Save(path);
        var back = SteeringProfile.Load(path);
        Assert.Equal(ProfileJson.Serialize(p), ProfileJson.Serialize(back));
        Assert.Single(Directory.GetFiles(_dir));
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        Assert.Equal("onnxsteer.profile/2", (string?)json["schema"]);
        Assert.Equal("mlp", (string?)json["sites"]![2]!["kind"]);
        Assert.Equal("austeer", (string?)json["method"]);
        Assert.Equal(10.0, (double)json["units"]![0]!["gamma"]!);
        Assert.Contains("\"positive\": [3,1,2]", File.ReadAllText(path)); // counts on one line
    }

    /// <summary>Edits the JSON of a valid profile and expects Load to name the file and the field.</summary>
    [Theory]
    [InlineData("schema", "\"onnxsteer.profile/0\"", "schema", "expected 'onnxsteer.profile/2' (or the older 'onnxsteer.profile/1')")]
    [InlineData("sites/0/kind", "\"ffn\"", "sites[0].kind", "unknown site kind 'ffn'")]
    [InlineData("units/0/index", "9", "units[0].index", "outside 0..1")]
    [InlineData("units/1/gamma", "\"NaN\"", "units[1].gamma", "")]
    [InlineData("counts/1/positive", "[1]", "counts[1].positive", "must have 2 entries")]
    [InlineData("counts/0/negative/0", "4", "counts[0].negative[0]", "exceeds pairs")]
    [InlineData("method", "\"sadi\"", "method", "unknown method")]
    [InlineData("modelFingerprint", null, "modelFingerprint", "")]
    public void Load_names_the_file_and_the_field_of_a_problem(string pointer, string? value, string field, string problem)
    {
        var json = JsonNode.Parse(ProfileJson.Serialize(Selected()))!;
        var parts = pointer.Split('/');
        JsonNode parent = json;
        foreach (var part in parts[..^1]) parent = int.TryParse(part, out var i) ? parent[i]! : parent[part]!;
        var last = parts[^1];
        if (value is null) parent.AsObject().Remove(last);
        else if (int.TryParse(last, out var idx)) parent[idx] = JsonNode.Parse(value);
        else parent[last] = JsonNode.Parse(value);
        var path = Path.Combine(_dir, "bad.json");
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<InvalidProfileException>(() => SteeringProfile.Load(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(field, e.Message);
        Assert.Contains(problem, e.Message);
        Assert.Equal(ExitCodes.InvalidInput, ErrorReporter.ExitCode(e));
    }

    [Fact]
    public void Missing_or_malformed_files_are_invalid_input()
    {
        var missing = Path.Combine(_dir, "none.json");
        Assert.Contains("no such file", Assert.Throws<InvalidProfileException>(() => SteeringProfile.Load(missing)).Message);
        var broken = Path.Combine(_dir, "broken.json");
        File.WriteAllText(broken, "{\"schema\": ");
        Assert.StartsWith(broken, Assert.Throws<InvalidProfileException>(() => SteeringProfile.Load(broken)).Message);
    }

    [Fact]
    public void Save_refuses_an_inconsistent_profile_and_keeps_the_old_file()
    {
        var path = Path.Combine(_dir, "p.json");
        Selected().Save(path);
        var before = File.ReadAllBytes(path);
        var bad = Selected();
        bad.Units[0].Gamma = double.PositiveInfinity;
        Assert.Throws<InvalidProfileException>(() => bad.Save(path));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(_dir));
    }
}
