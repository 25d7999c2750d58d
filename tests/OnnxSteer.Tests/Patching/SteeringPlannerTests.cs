using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using Xunit;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Patching;

public class SteeringPlannerTests
{
    private static (SteeringPlan Plan, IReadOnlyList<ErrorText> Warnings) Plan(SteeringProfile profile, OnnxSteer.ModelFiles.OnnxModel model,
        IReadOnlyList<SteeringSite> sites, PatchSettings? settings)
    {
        var planned = SteeringPlanner.Plan(new SteeringTarget(model, sites), new InMemoryProfile(profile, "sha", "p.json"), (settings?.Request ?? PatchRequest.Default));
        return (planned.Plan, planned.Warnings);
    }

    [Fact]
    public void Plan_takes_the_profile_units_and_gammas()
    {
        var d = new TinyDecoder();
        var model = d.Model();
        var sites = d.Sites();
        var profile = TestProfiles.Make(model, sites, k: 3, alpha: 4);
        var (plan, warnings) = Plan(profile, model, sites, null);
        // At alpha 4 some factors 1 + gamma are negative: the planner says so (the only warning), as the CLI prints it.
        Assert.StartsWith("alpha 4 makes the factor 1+gamma negative for 4 of 9 unit(s)", Assert.Single(warnings).ToString());
        Assert.Equal(SteeringOperation.Scale, plan.Operation);
        // k per kind: 3 units in each of attn, mlp, mlp-out.
        Assert.Equal(9, plan.Sites.Sum(s => s.Units.Count));
        foreach (var unit in profile.Units)
        {
            var site = plan.Sites.Single(s => s.Site.Id == unit.Site);
            Assert.Equal((float)(1 + unit.Gamma), site.Vector[unit.Index]);
        }
        Assert.Equal(new SteeringProvenance("austeer", 3, 4, "sha"), plan.Provenance);
    }

    [Fact]
    public void K_alpha_and_sites_are_handed_to_the_unit_selector()
    {
        // Plumbing: the expected units come from UnitSelector itself, whose ranking UnitSelectorTests checks by hand.
        var d = new TinyDecoder();
        var model = d.Model();
        var sites = d.Sites();
        var profile = TestProfiles.Make(model, sites, k: 3, alpha: 4);
        var (plan, _) = Plan(profile, model, sites, new PatchSettings { K = 2, Alpha = 0.5, Sites = [SiteKind.Mlp] });
        var site = Assert.Single(plan.Sites);
        Assert.Equal("mlp.0", site.Site.Id);
        Assert.Equal(2, site.Units.Count);
        var expected = UnitSelector.Select(profile, 2, 0.5, [SiteKind.Mlp], false, SteeringMethod.AuSteer).Units;
        Assert.Equal(expected.Select(u => (u.Index, u.Gamma)), site.Units.Select(u => (u.Index, u.Value)));
        Assert.Equal(0.5, plan.Provenance.Alpha);
    }

    [Fact]
    public void Profile_of_another_model_is_refused_unless_forced()
    {
        var d = new TinyDecoder();
        var other = new TinyDecoder(seed: 9);
        other.Proto.Graph.Node[1].Name = "renamed"; // another structure: another fingerprint
        var profile = TestProfiles.Make(other.Model(), other.Sites(), k: 1, alpha: 1);
        var e = Assert.Throws<InvalidProfileException>(() => Plan(profile, d.Model(), d.Sites(), null));
        Assert.Contains("recorded on another model", e.Message);
        Assert.Contains("; use --force to apply it anyway", ErrorReporter.Message(e));
        var (_, warnings) = Plan(profile, d.Model(), d.Sites(), new PatchSettings { Force = true });
        var warning = Assert.Single(warnings);
        Assert.Contains("recorded on another model", warning.ToString());
        Assert.EndsWith("; applied anyway (force)", warning.ToString());
        Assert.EndsWith("; applied anyway (--force)", ErrorReporter.Render(warning));
    }

    [Fact]
    public void Dtype_mismatch_is_refused_unless_forced()
    {
        var f32 = new TinyDecoder();
        var f16 = new TinyDecoder((int)Onnx.TensorProto.Types.DataType.Float16);
        var profile = TestProfiles.Make(f32.Model(), f32.Sites(), k: 1, alpha: 1);
        var e = Assert.Throws<InvalidProfileException>(() => Plan(profile, f16.Model(), f16.Sites(), null));
        Assert.Contains("p.json", e.Message);
        var forced = Plan(profile, f16.Model(), f16.Sites(), new PatchSettings { Force = true });
        Assert.Contains(forced.Warnings, w => w.ToString().Contains("dtype float in the profile, float16 in the model"));
    }

    [Fact]
    public void Unit_on_a_site_the_model_lacks_is_refused()
    {
        var d = new TinyDecoder();
        var profile = TestProfiles.Make(d.Model(), d.Sites(), k: 1, alpha: 1);
        var fewer = d.Sites().Where(s => s.Kind != SiteKind.Attn).ToList();
        var e = Assert.Throws<InvalidProfileException>(() => Plan(profile, d.Model(), fewer, new PatchSettings { Force = true }));
        Assert.Contains("site attn.0 does not exist", e.Message);
    }

    [Fact]
    public void Index_beyond_width_and_non_finite_gamma_are_refused()
    {
        var d = new TinyDecoder();
        var profile = TestProfiles.Make(d.Model(), d.Sites(), k: 1, alpha: 1, kinds: [SiteKind.Mlp]);
        profile.Units[0].Index = 40;
        var e = Assert.Throws<InvalidProfileException>(() => Plan(profile, d.Model(), d.Sites(), null));
        Assert.Contains("beyond the site's width 12", e.Message);
        profile.Units[0].Index = 1;
        profile.Units[0].Gamma = double.NaN;
        e = Assert.Throws<InvalidProfileException>(() => Plan(profile, d.Model(), d.Sites(), null));
        Assert.Contains("non-finite gamma", e.Message);
    }

    [Fact]
    public void Caa_profile_plans_an_additive_vector()
    {
        var d = new TinyDecoder();
        var profile = TestProfiles.Make(d.Model(), d.Sites(), k: 0, alpha: 2, method: SteeringMethod.Caa, kinds: [SiteKind.MlpOut]);
        var (plan, _) = Plan(profile, d.Model(), d.Sites(), null);
        Assert.Equal(SteeringOperation.Add, plan.Operation);
        var site = Assert.Single(plan.Sites);
        Assert.Equal(profile.Caa[0].Vector, site.Vector);
        Assert.Null(plan.Provenance.K);
    }
}
