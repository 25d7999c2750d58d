using OnnxSteer.Cli;
using OnnxSteer.Interop;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using Xunit;
using static OnnxSteer.Tests.Profiles.ProfileFixtures;

namespace OnnxSteer.Tests.Profiles;

/// <summary>Evidence per unit (issue 17): sign test, Bonferroni, effect size, per-side means; the evidence tie-break, the
/// sign-aware direction rule, the warnings, and schema /1 profiles without the sums.</summary>
public class UnitEvidenceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("onnxsteer-evidence-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // Differences x(pos) − x(neg) per unit over 4 pairs, and the x(neg) each is added to.
    // mlp.0: [0] ties at 4/4 with a weak effect, [1] 3/4, [2] all zero. mlp.1: [0] 4/4 strong effect, negative activations;
    // [1] 4/4 negative momenta, medium effect, positive activations; [2] 2/1.
    private static readonly double[][] Diffs0 = [[0.125, 2, 0.125, 2], [-1, 1, 1, 1], [0, 0, 0, 0]];
    private static readonly double[][] Diffs1 = [[1, 1.125, 0.875, 1], [-1, -1.25, -0.75, -1.5], [1, 1, -1, 0]];
    private static readonly float[] Base0 = [0.5f, 0.5f, 0.5f];
    private static readonly float[] Base1 = [-3f, 2f, 0.5f];

    private static SteeringProfile Counted()
    {
        var counter = new MomentumCounter([Site(SiteKind.Mlp, 0, 3), Site(SiteKind.Mlp, 1, 3)]);
        for (var j = 0; j < 4; j++)
        {
            float[] Pos(double[][] d, float[] b) => [.. b.Select((x, i) => (float)(x + d[i][j]))];
            counter.AddPair([Pos(Diffs0, Base0), Pos(Diffs1, Base1)], [Base0, Base1]);
        }
        return counter.ToProfile("sha256:evidence", SteeringMethod.AuSteer);
    }

    /// <summary>d_z computed directly in double, the textbook way (two passes).</summary>
    private static double ReferenceEffect(double[] d)
    {
        var mean = d.Average();
        var sd = Math.Sqrt(d.Sum(x => (x - mean) * (x - mean)) / (d.Length - 1));
        return mean / sd;
    }

    [Fact]
    public void Counter_sums_give_the_means_and_effect_sizes_of_a_direct_computation()
    {
        var p = Counted();
        var s1 = p.Counts[1];
        Assert.True(s1.HasEvidenceSums);
        // Sums of squares: exact here (every difference is a multiple of 2^-3).
        Assert.Equal(1 + 1.125 * 1.125 + 0.875 * 0.875 + 1, FixedPoint.ToDouble(s1.SumSqDiff![0]));
        Assert.Equal(4 * -3.0 + 4, FixedPoint.ToDouble(s1.SumActivationPos![0]));
        Assert.Equal(4 * -3.0, FixedPoint.ToDouble(s1.SumActivationNeg![0]));
        for (var site = 0; site < 2; site++)
        for (var i = 0; i < 3; i++)
        {
            var d = (site == 0 ? Diffs0 : Diffs1)[i];
            var c = p.Counts[site];
            var effect = UnitEvidence.EffectSize(c.SumDiff![i], c.SumSqDiff![i], 4);
            if (d.All(x => x == 0)) Assert.Null(effect);
            else Assert.Equal(ReferenceEffect(d), effect!.Value, 1e-9);
        }
    }

    [Fact]
    public void Sign_test_and_bonferroni_match_the_binomial_by_hand()
    {
        Assert.Equal(0.125, UnitEvidence.SignTestP(4, 0));                 // 2 · (1/2)^4
        Assert.Equal(2 * 5.0 / 16, UnitEvidence.SignTestP(1, 3), 12);      // 2 · P(X ≤ 1 of 4) = 2 · 5/16
        Assert.Equal(1.0, UnitEvidence.SignTestP(2, 2));
        Assert.Equal(Math.Pow(2, -15), UnitEvidence.SignTestP(0, 16), 15);
        Assert.Equal(1.0, UnitEvidence.Bonferroni(0.125, 860));
        Assert.Equal(0.026, UnitEvidence.Bonferroni(UnitEvidence.BestPossibleP(16), 860), 3);
        // 860 units (stories260K mlp): 15 pairs cannot reach p_adj < 0.05 (0.0525), 16 can (0.026).
        Assert.Equal(16, UnitEvidence.PairsNeeded(860));
        Assert.Equal(8, UnitEvidence.PairsNeeded(6));
    }

    [Fact]
    public void Released_rules_are_the_default_and_keep_their_order_and_signs()
    {
        var p = UnitSelector.Select(Counted(), 3, 2, [SiteKind.Mlp], false, SteeringMethod.AuSteer);
        // Three units score 4/4: lower layer, then lower index.
        Assert.Equal("mlp.0[0] mlp.1[0] mlp.1[1]", Describe(p.Units));
        Assert.Equal([2.0, 2.0, -2.0], p.Units.Select(u => u.Gamma));
        Assert.Equal(TieBreak.Released, p.Selection.TieBreak);
        Assert.Equal(DirectionRule.Released, p.Selection.Direction);
        var u = p.Units[1];
        Assert.Equal(0.125, u.P);
        Assert.Equal(0.75, u.PAdjusted);   // Bonferroni over the 6 mlp units
        Assert.Equal(6, u.Ranked);
        Assert.Equal(-2.0, u.MeanPos);
        Assert.Equal(-3.0, u.MeanNeg);
        Assert.Equal(ReferenceEffect(Diffs1[0]), u.EffectSize!.Value, 1e-9);
    }

    [Fact]
    public void Effect_tie_break_orders_equal_scores_by_absolute_effect_size()
    {
        var p = UnitSelector.Select(Counted(), 2, 2, [SiteKind.Mlp], false, SteeringMethod.AuSteer, tieBreak: TieBreak.Effect);
        // |d_z|: mlp.1[0] 12.2, mlp.1[1] 3.9, mlp.0[0] 0.96 — the released order would keep mlp.0[0] first.
        Assert.Equal("mlp.1[0] mlp.1[1]", Describe(p.Units));
        Assert.True(Math.Abs(p.Units[0].EffectSize!.Value) > Math.Abs(p.Units[1].EffectSize!.Value));
        Assert.Equal(TieBreak.Effect, p.Selection.TieBreak);
        // Scores still come first: the 3/4 unit never beats a 4/4 one, whatever its effect.
        var four = UnitSelector.Select(Counted(), 4, 2, [SiteKind.Mlp], false, SteeringMethod.AuSteer, tieBreak: TieBreak.Effect);
        Assert.Equal("mlp.1[0] mlp.1[1] mlp.0[0] mlp.0[1]", Describe(four.Units));
    }

    [Fact]
    public void Re_selecting_at_another_k_keeps_the_stored_tie_break_and_direction()
    {
        // patch --k, sweep and Steerer.Select re-select through Reselect: the rules the profile was made with must hold.
        var stored = UnitSelector.Select(Counted(), 1, 2, [SiteKind.Mlp], false, SteeringMethod.AuSteer,
            tieBreak: TieBreak.Effect, direction: DirectionRule.SignAware);
        var again = UnitSelector.Reselect(stored, 2, 3);
        var direct = UnitSelector.Select(Counted(), 2, 3, [SiteKind.Mlp], false, SteeringMethod.AuSteer,
            tieBreak: TieBreak.Effect, direction: DirectionRule.SignAware);
        Assert.Equal("mlp.1[0] mlp.1[1]", Describe(again.Units));
        Assert.Equal(direct.Units.Select(u => u.Gamma), again.Units.Select(u => u.Gamma));
        Assert.Equal((TieBreak.Effect, DirectionRule.SignAware), (again.Selection.TieBreak, again.Selection.Direction));
    }

    [Fact]
    public void Sign_aware_direction_flips_gamma_only_where_the_mean_activation_is_negative()
    {
        var p = UnitSelector.Select(Counted(), 3, 2, [SiteKind.Mlp], false, SteeringMethod.AuSteer, direction: DirectionRule.SignAware);
        Assert.Equal("mlp.0[0] mlp.1[0] mlp.1[1]", Describe(p.Units)); // the direction rule never changes which units
        // mlp.1[0] moves up (m > 0) but sits at −2.5 on average: growing it makes it more negative, so gamma turns −2.
        Assert.Equal([2.0, -2.0, -2.0], p.Units.Select(u => u.Gamma));
        Assert.Equal(-2.0, UnitSelector.SignAwareGamma(4, 0, 4, 2, activationSign: -1));
        Assert.Equal(2.0, UnitSelector.SignAwareGamma(4, 0, 4, 2, activationSign: 0));
    }

    [Fact]
    public void Warnings_name_ties_too_few_pairs_chance_and_weak_units_with_numbers()
    {
        var ties = SelectionWarnings.For(UnitSelector.Select(Counted(), 2, 2, [SiteKind.Mlp], false, SteeringMethod.AuSteer)).Select(w => w.ToString()).ToList();
        Assert.Contains(ties, w => w.StartsWith("N=4 pairs is too few for any of the 6 mlp units to be significant", StringComparison.Ordinal)
                                   && w.Contains("profile at least 8 pairs"));
        Assert.Contains(ties, w => w.StartsWith("3 mlp units tie at the cut-off score 1.000 (4 of 4 pairs) and 2 of them were kept by layer/index order", StringComparison.Ordinal));

        var site = Site(SiteKind.Attn, 0, 2);
        var chance = new SteeringProfile { ModelFingerprint = "f", Sites = [site], Pairs = 20, Counts = [Stats(site, [12, 10], [8, 10])] };
        var w1 = Assert.Single(SelectionWarnings.For(UnitSelector.Select(chance, 1, 1, [SiteKind.Attn], false, SteeringMethod.AuSteer)));
        Assert.Equal("the best attn unit scores 0.600 over N=20 pairs, within chance (sign test p=0.503): these pairs do not separate the two sides at any attn unit; steering them is unlikely to help", w1.ToString());

        var wide = Site(SiteKind.Attn, 0, 100);
        int[] pos = [.. Enumerable.Range(0, 100).Select(i => i == 0 ? 20 : i == 1 ? 16 : 10)], neg = [.. pos.Select(x => 20 - x)];
        var weak = new SteeringProfile { ModelFingerprint = "f", Sites = [wide], Pairs = 20, Counts = [Stats(wide, pos, neg)] };
        var w2 = Assert.Single(SelectionWarnings.For(UnitSelector.Select(weak, 2, 1, [SiteKind.Attn], false, SteeringMethod.AuSteer)));
        Assert.Equal("1 of 2 chosen attn units are not significant after Bonferroni over 100 units (p_adj up to 1): use --k 1 or more pairs", ErrorReporter.Render(w2));
        Assert.Equal("1 of 2 chosen attn units are not significant after Bonferroni over 100 units (p_adj up to 1): use k 1 or more pairs", w2.ToString());
        Assert.Empty(SelectionWarnings.For(UnitSelector.Select(weak, 1, 1, [SiteKind.Attn], false, SteeringMethod.AuSteer)));
    }

    [Fact]
    public void Schema_1_profiles_load_select_with_released_rules_and_refuse_the_evidence_rules()
    {
        var old = Hand(); // counts and sums of differences only, as /1 files have
        old.Schema = SteeringProfile.SchemaIdV1;
        var path = Path.Combine(_dir, "v1.json");
        File.WriteAllBytes(path, ProfileJson.Serialize(old));
        var loaded = SteeringProfile.Load(path);
        Assert.Equal(SteeringProfile.SchemaIdV1, loaded.Schema);
        var p = UnitSelector.Select(loaded, 2, 1, [SiteKind.Attn], false, SteeringMethod.AuSteer);
        Assert.Equal("attn.1[1] attn.0[0]", Describe(p.Units));
        Assert.Equal(0.125, p.Units[0].P);        // the sign test needs counts only
        Assert.Null(p.Units[0].EffectSize);
        Assert.Null(p.Units[0].MeanPos);
        Assert.Contains("need a profile/2 file: absent here", SelectionText.Summary(p));
        var e = Assert.Throws<InvalidProfileException>(() =>
            UnitSelector.Select(loaded, 2, 1, [SiteKind.Attn], false, SteeringMethod.AuSteer, tieBreak: TieBreak.Effect));
        Assert.Contains("onnxsteer.profile/1", e.Message);
        Assert.Equal(ExitCodes.InvalidInput, ErrorReporter.ExitCode(e));
        var resaved = Path.Combine(_dir, "v2.json");
        p.Save(resaved);
        Assert.Equal(SteeringProfile.SchemaId, SteeringProfile.Load(resaved).Schema);
    }

    [Fact]
    public void Merge_adds_the_evidence_sums_and_drops_them_when_a_part_lacks_them()
    {
        var a = Counted();
        a.Source = "a.jsonl";
        var b = Counted();
        b.Source = "b.jsonl";
        var m = ProfileMerger.Merge([(a, "a"), (b, "b")]);
        Assert.Equal(2 * a.Counts[1].SumSqDiff![0], m.Counts[1].SumSqDiff![0]);
        Assert.Equal(2 * a.Counts[1].SumActivationNeg![0], m.Counts[1].SumActivationNeg![0]);
        var old = Counted();
        old.Source = "old.jsonl";
        foreach (var c in old.Counts) c.SumSqDiff = null;
        var partial = ProfileMerger.Merge([(a, "a"), (old, "old")]);
        Assert.All(partial.Counts, c => Assert.False(c.HasEvidenceSums));
        Assert.NotNull(partial.Counts[0].SumDiff);
    }

    [Fact]
    public async Task Select_command_takes_the_rules_stores_them_and_export_carries_the_evidence()
    {
        var input = Path.Combine(_dir, "in.json");
        UnitSelector.Select(Counted(), 2, 2, [SiteKind.Mlp], false, SteeringMethod.AuSteer).Save(input);
        var output = Path.Combine(_dir, "out.json");
        Assert.Equal(0, await CliApp.RunAsync(["select", input, "--tie-break", "effect", "--direction", "sign-aware", "-o", output]));
        var p = SteeringProfile.Load(output);
        Assert.Equal("mlp.1[0] mlp.1[1]", Describe(p.Units));
        Assert.Equal([-2.0, -2.0], p.Units.Select(u => u.Gamma));
        Assert.Contains("\"tieBreak\": \"effect\"", File.ReadAllText(output));
        Assert.Contains("\"direction\": \"sign-aware\"", File.ReadAllText(output));
        // Re-selecting keeps the stored rules.
        Assert.Equal("mlp.1[0] mlp.1[1]", Describe(UnitSelector.Reselect(p).Units));
        Assert.Equal(64, await CliApp.RunAsync(["select", input, "--tie-break", "lowest"]));

        var csv = UnitTable.ToCsv(UnitTable.Rows(p)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.EndsWith(",p,p_adj,effect,mean_pos,mean_neg", csv[0]);
        var fields = csv[1].Split(',');
        Assert.Equal(0.125, double.Parse(fields[10], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0.75, double.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(p.Units[0].EffectSize!.Value, double.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(-2.0, double.Parse(fields[13], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(-3.0, double.Parse(fields[14], System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void The_fast_copy_for_reselection_equals_a_full_clone_without_the_selection()
    {
        var p = UnitSelector.Select(Counted(), 2, 2, [SiteKind.Mlp], false, SteeringMethod.AuSteer, tieBreak: TieBreak.Effect, direction: DirectionRule.SignAware);
        p.Source = "pairs.jsonl";
        p.Shards = ["1/3"];
        p.Method = SteeringMethod.Caa; // a control vector origin is valid on caa profiles only
        p.ControlVector = new ControlVectorOrigin { File = "v.gguf", ModelHint = "llama", LayerCount = 2, Strength = 0.5, Layers = [1] };
        var expected = p.Clone();
        expected.Units = [];
        expected.Caa = [];
        Assert.Equal(System.Text.Encoding.UTF8.GetString(ProfileJson.Serialize(expected)),
            System.Text.Encoding.UTF8.GetString(ProfileJson.Serialize(p.CloneWithoutSelection())));
    }
}
