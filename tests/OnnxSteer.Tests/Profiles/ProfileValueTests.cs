using System.Reflection;
using System.Runtime.CompilerServices;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Profiles;

/// <summary>
/// A profile cannot lie: its units and gammas are derived from its counts and its selection (UnitSelector), and nothing
/// public can change one without the other. The selection is a value changed with <c>with</c>; the file format is the
/// JSON the CLI built from main before this change wrote (onnxsteer profile on stories260K, 8 pairs, k 4, attn+mlp, tie-break effect, direction sign-aware), which still loads and is written back byte for byte.
/// </summary>
public class ProfileValueTests
{
    private static readonly string MainProfile =
        Path.Combine(SharedData.RepoRoot, "tests", "OnnxSteer.Tests", "Profiles", "Data", "profile-written-by-main.json");

    /// <summary>Every type a profile is made of, found by walking its public properties.</summary>
    private static IReadOnlyList<Type> ProfileTypes()
    {
        var seen = new List<Type>();
        void Walk(Type t)
        {
            if (t.Assembly != typeof(SteeringProfile).Assembly || t.IsEnum || seen.Contains(t)) return;
            seen.Add(t);
            foreach (var p in t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                var type = p.PropertyType;
                Walk(Nullable.GetUnderlyingType(type) ?? type);
                foreach (var arg in type.IsGenericType ? type.GetGenericArguments() : []) Walk(arg);
            }
        }
        Walk(typeof(SteeringProfile));
        return seen;
    }

    private static bool IsInitOnly(MethodInfo setter) =>
        setter.ReturnParameter.GetRequiredCustomModifiers().Contains(typeof(IsExternalInit));

    [Fact]
    public void Nothing_public_can_change_a_profile_so_its_gammas_cannot_go_stale()
    {
        var types = ProfileTypes();
        Assert.Contains(typeof(SelectedUnit), types);
        Assert.Contains(typeof(SelectionSettings), types);
        var writable = types.SelectMany(t => t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Where(p => p.SetMethod is { IsPublic: true } setter && !(t == typeof(SelectionSettings) && IsInitOnly(setter)))
                .Select(p => $"{t.Name}.{p.Name}"))
            .ToList();
        Assert.Empty(writable);
        // Lists are read-only views: no Add, no element assignment through the public type.
        var lists = types.SelectMany(t => t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            .Where(p => p.PropertyType.IsGenericType && p.PropertyType.GetGenericTypeDefinition() == typeof(List<>))
            .Select(p => $"{p.DeclaringType!.Name}.{p.Name}").ToList();
        Assert.Empty(lists);
    }

    [Fact]
    public void A_new_selection_is_a_new_value_and_the_only_way_to_other_gammas()
    {
        var profile = Steerer.Load(MainProfile);
        var before = profile.Units.Select(u => (u.Site, u.Index, u.Gamma)).ToList();
        var stronger = profile.Selection with { Alpha = 5 };

        Assert.Equal(2, profile.Selection.Alpha);          // the profile's own selection is untouched
        Assert.Equal(before, profile.Units.Select(u => (u.Site, u.Index, u.Gamma)));
        var reselected = Steerer.Select(profile, stronger);
        Assert.Equal(5, reselected.Selection.Alpha);
        // Same units (the ranking does not depend on alpha); every gamma scaled by 5/2, derived anew from the counts.
        Assert.Equal(before.Select(u => (u.Site, u.Index)), reselected.Units.Select(u => (u.Site, u.Index)));
        Assert.Equal(before.Select(u => u.Gamma * 5 / 2), reselected.Units.Select(u => u.Gamma), new ToleranceComparer(1e-12));
    }

    [Fact]
    public void A_profile_written_by_mains_code_loads_and_is_written_back_unchanged()
    {
        var profile = Steerer.Load(MainProfile);
        Assert.Equal(SteeringProfile.SchemaId, profile.Schema);
        Assert.Equal(8, profile.Pairs);
        Assert.Equal(new[] { SiteKind.Attn, SiteKind.Mlp }, profile.Selection.Sites);
        Assert.Equal((TieBreak.Effect, DirectionRule.SignAware), (profile.Selection.TieBreak, profile.Selection.Direction));
        Assert.Equal(8, profile.Units.Count);   // k 4 of each of two kinds
        Assert.All(profile.Counts, c => Assert.True(c.HasEvidenceSums));

        using var tmp = new Patching.TempDir();
        Steerer.Save(profile, tmp["again.json"]);
        Assert.Equal(File.ReadAllText(MainProfile), File.ReadAllText(tmp["again.json"]));
        // The selection read back re-selects to the same units and gammas: what the file says is what its counts give.
        var derived = Steerer.Select(profile, profile.Selection);
        Assert.Equal(profile.Units.Select(u => (u.Site, u.Index, u.Gamma)), derived.Units.Select(u => (u.Site, u.Index, u.Gamma)));
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= tolerance;
        public int GetHashCode(double x) => 0;
    }
}
