using System.Text.Json;
using OnnxSteer.Profiles;
using OnnxSteer.Sweeping;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Cli;

/// <summary>
/// One rule for the sign of alpha (issue 19, item 16; docs/errors.md): any finite alpha everywhere, sweep included; a
/// negative alpha gives every unit the opposite gamma; a factor 1 + gamma below zero is announced.
/// </summary>
public sealed class SignRuleTests(ITestOutputHelper output)
{
    [Fact]
    public void Sweep_accepts_negative_alphas_and_prefers_the_smaller_intervention_on_ties()
    {
        Assert.Equal([-3.0, 0, 1, 5], OnnxSteer.Tests.Sweeping.GridLists.Alphas("5,-3,1,0,-3"));
        Assert.StartsWith("--alpha NaN: ", OnnxSteer.Tests.Sweeping.GridLists.AlphaError("NaN"));
        Assert.StartsWith("--alpha -Infinity: ", OnnxSteer.Tests.Sweeping.GridLists.AlphaError("-Infinity"));
    }

    [Fact]
    public void The_warning_counts_the_units_whose_factor_is_negative()
    {
        Assert.Null(SignRule.NegativeFactorWarning(3, [0.5, -0.9, -1.0]));
        var w = SignRule.NegativeFactorWarning(-3, [0.5, -1.5, -2.4, 2]);
        Assert.NotNull(w);
        Assert.StartsWith("warning: alpha -3 makes the factor 1+gamma negative for 2 of 4 unit(s) (lowest -1.4)", w);
    }

    [SharedFact]
    public void Negative_alpha_mirrors_every_gamma_in_select_and_patch_and_warns_when_a_factor_turns_negative()
    {
        var f = CliFixture.Shared;
        var dir = f.NewFolder("sign");
        string plus = Path.Combine(dir, "plus.json"), minus = Path.Combine(dir, "minus.json");
        var p = CliFixture.Run("select", f.ProfilePath, "--k", "6", "--alpha", "3", "-o", plus);
        var m = CliFixture.Run("select", f.ProfilePath, "--k", "6", "--alpha", "-3", "-o", minus);
        Assert.Equal(0, p.Code);
        Assert.Equal(0, m.Code);
        var up = SteeringProfile.Load(plus).Units;
        var down = SteeringProfile.Load(minus).Units;
        Assert.Equal(up.Select(u => (u.Site, u.Index)), down.Select(u => (u.Site, u.Index)));
        Assert.All(up.Zip(down), pair => Assert.Equal(-pair.First.Gamma, pair.Second.Gamma));
        // Independent count: units whose 1 + gamma is below zero at each sign.
        foreach (var (units, run, alpha) in new[] { (up, p, 3.0), (down, m, -3.0) })
        {
            var flipped = units.Count(u => 1 + u.Gamma < 0);
            output.WriteLine($"alpha {alpha}: gammas {string.Join(", ", units.Select(u => u.Gamma.ToString("0.###")))}; {flipped} negative factors");
            if (flipped > 0) Assert.Contains($"factor 1+gamma negative for {flipped} of {units.Count} unit(s)", run.Stderr);
            else Assert.DoesNotContain("1+gamma negative", run.Stderr);
        }
        Assert.Contains(up.Concat(down), u => 1 + u.Gamma < 0); // alpha ±3 flips some unit in this profile

        var patched = CliFixture.Run("patch", f.Model, f.ProfilePath, "--k", "6", "--alpha", "-3", "-o", Path.Combine(dir, "steered"));
        Assert.Equal(0, patched.Code);
        Assert.Equal(down.Any(u => 1 + u.Gamma < 0), patched.Stderr.Contains("1+gamma negative"));
    }
}
