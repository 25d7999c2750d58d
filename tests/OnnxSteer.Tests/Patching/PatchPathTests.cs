using OnnxSteer.Cli;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Patching;

/// <summary>
/// The one patch path (docs/architecture.md, "The patch path"): a request checked once, a planner that returns the plan
/// and every warning, an applier. These pin what the old relay got wrong: checks spread over the chain (a bad
/// parameter found only after the model was read, or only by the CLI) and warnings only the CLI computed.
/// </summary>
public class PatchPathTests
{
    public static TheoryData<string, PatchSettings> BadRequests => new()
    {
        { "k", new PatchSettings { K = 0 } },
        { "alpha", new PatchSettings { Alpha = double.NaN } },
        { "sites", new PatchSettings { Sites = [] } },
        { "probeThreshold", new PatchSettings { Dynamic = true, ProbeThreshold = 1.5 } },
        { "gatesFrom", new PatchSettings { GatesFrom = "gates.json" } },
        { "switchable", new PatchSettings { Fold = true, Switchable = true } },
        { "dynamic", new PatchSettings { Fold = true, Dynamic = true } },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public void Each_bad_request_gets_its_one_error_before_any_file_is_read(string parameter, PatchSettings settings)
    {
        using var tmp = new TempDir();
        // Neither the model nor the profile exists: the parameter's error must come first, from the library itself.
        var e = Assert.Throws<InvalidParameterException>(() => Steerer.Patch(tmp["no-model.onnx"], tmp["no-profile.json"], tmp["out"], settings));
        Assert.Equal(parameter, e.ParamName);
        Assert.Same(e.GetType(), Assert.Throws<InvalidParameterException>(() => Steerer.Steer(tmp["no-model.onnx"], tmp["no-profile.json"], settings)).GetType());
        Assert.False(Directory.Exists(tmp["out"]));
        Assert.DoesNotContain("--", e.Message); // the library names parameters, never CLI flags
    }

    [Fact]
    public void Warnings_reach_a_library_caller_of_Steerer_Patch_and_Steer()
    {
        using var tmp = new TempDir();
        var modelFile = tmp["model.onnx"];
        new TinyDecoder().Model().Save(modelFile);
        var model = OnnxModel.Load(modelFile);
        var profile = TestProfiles.Save(TestProfiles.Make(model, SiteFinder.Find(model).Sites, k: 3, alpha: 1), tmp.Path);
        var heard = new List<string>();

        // alpha -3 pushes some factors 1 + gamma below zero; k 500 is more than any site kind holds.
        var settings = new PatchSettings { Alpha = -3, K = 500, Notice = n => heard.Add(ErrorReporter.Render(n)) };
        var outcome = Steerer.Patch(modelFile, profile, tmp["out"], settings);

        var sign = Assert.Single(outcome.Warnings, w => w.ToString().Contains("makes the factor 1+gamma negative"));
        Assert.StartsWith("alpha -3 makes the factor 1+gamma negative for ", sign.ToString());
        Assert.Contains("warning: " + sign, heard);
        Assert.Contains(heard, line => line.StartsWith("note: --k 500 is more than the ", StringComparison.Ordinal) && line.Contains(" units the profile has: all "));
        Assert.Equal(outcome.Warnings.Select(w => w.ToString()), Steerer.Steer(modelFile, profile, settings with { Notice = null }).Warnings.Select(w => w.ToString()));
    }

    [Fact]
    public void Alpha_crosses_at_most_three_types_before_it_becomes_gamma()
    {
        // The trace docs/architecture.md writes down: PatchSettings → PatchRequest → SteeringPlanner (UnitSelector makes
        // gamma). In the patch chain only the request carries an alpha; the provenance and the step written into the
        // model's metadata (and AppliedSteering, the public read-only view of that step) record it after the plan is made.
        var carriers = typeof(PatchRequest).Assembly.GetTypes()
            .Where(t => t.Namespace == "OnnxSteer.Patching" && !t.Name.Contains('<'))
            .Where(t => t.GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)
                .Any(p => p.Name == "Alpha"))
            .Select(t => t.Name).Order().ToList();
        Assert.Equal(["AppliedSteering", "PatchRequest", "SteeringProvenance", "SteeringStep"], carriers);
        Assert.NotNull(typeof(PatchSettings).GetProperty("Alpha"));

        var doc = File.ReadAllText(Path.Combine(SharedData.RepoRoot, "docs", "architecture.md"));
        Assert.Contains("`PatchSettings` → `PatchRequest` → `SteeringPlanner`", doc);
        Assert.DoesNotContain("ProfilePatcher", doc);
    }

    [Fact]
    public void Stacking_is_decided_by_the_planner_and_the_applier_adds_a_step()
    {
        var d = new TinyDecoder();
        var profile = new InMemoryProfile(TestProfiles.Make(d.Model(), d.Sites(), k: 1, alpha: 1, kinds: [SiteKind.Mlp]));
        var once = new SteeringTarget(d.Model(), d.Sites()).Steer(profile, PatchRequest.Default).Model;
        var target = new SteeringTarget(once, d.Sites());
        var refused = Assert.Throws<InvalidInputException>(() => SteeringPlanner.Plan(target, profile, PatchRequest.Default));
        Assert.Contains("already steered", refused.Message);
        var replaced = SteeringPlanner.Plan(target, profile, new PatchRequest(existing: ExistingSteering.Replace));
        Assert.Same(target.Unsteered, replaced.Graph);
        var stacked = SteeringPlanner.Plan(target, profile, new PatchRequest(existing: ExistingSteering.Stack));
        Assert.Same(once, stacked.Graph);
        var twice = GraphPatcher.Apply(stacked.Graph, stacked.Plan, PatchOptions.Default).Model;
        Assert.Equal(2, SteeringMetadata.Read(twice.Proto).Count);
    }
}
