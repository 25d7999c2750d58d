using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Bench;

/// <summary>
/// BenchmarkDotNet micro-benchmarks of the stages of a patch that fit it (each well under a second, no multi-GB I/O):
/// the lean graph load, the unit selection, the plan, and the graph rewrite, on the model named by
/// <c>BENCH_BDN_MODEL</c> with the profile <c>BENCH_BDN_PROFILE</c> (bench/run.sh sets both). In-process toolchain
/// (no generated project to build), one launch, 3 warm-ups, 7 measured iterations.
/// </summary>
[Config(typeof(Settings))]
public class PatchStageBenchmarks
{
    private sealed class Settings : ManualConfig
    {
        public Settings()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance)
                .WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(7).WithId("InProcess"));
            AddExporter(MarkdownExporter.GitHub);
            WithOptions(ConfigOptions.DisableOptimizationsValidator);
        }
    }

    private string _model = "", _profilePath = "";
    private OnnxModel _lean = null!;
    private IReadOnlyList<SteeringSite> _sites = [];
    private SteeringProfile _profile = null!;
    private SteeringPlan _plan = null!;

    [GlobalSetup]
    public void Setup()
    {
        _model = Environment.GetEnvironmentVariable("BENCH_BDN_MODEL") ?? throw new InvalidOperationException("set BENCH_BDN_MODEL");
        _profilePath = Environment.GetEnvironmentVariable("BENCH_BDN_PROFILE") ?? throw new InvalidOperationException("set BENCH_BDN_PROFILE");
        _lean = StreamingModelRewriter.LoadLean(_model);
        _sites = SiteFinder.Find(_lean).Sites;
        _profile = SteeringProfile.Load(_profilePath);
        _plan = PlanK100Now();
    }

    [Benchmark(Description = "LoadLean (parse the graph, weights left in place)")]
    public object LoadLean() => StreamingModelRewriter.LoadLean(_model);   // object: OnnxModel is internal to the library

    [Benchmark(Description = "SiteFinder.Find")]
    public int FindSites() => SiteFinder.Find(_lean).Sites.Count;

    [Benchmark(Description = "SteeringProfile.Load (JSON)")]
    public SteeringProfile LoadProfile() => SteeringProfile.Load(_profilePath);

    [Benchmark(Description = "UnitSelector.Select k=100")]
    public int SelectK100() => UnitSelector.Select(_profile, 100, 2, [SiteKind.Attn, SiteKind.Mlp, SiteKind.MlpOut], false, SteeringMethod.AuSteer).Units.Count;

    [Benchmark(Description = "SteeringPlanner.Plan k=100 (fingerprint, select, check, vectors)")]
    public int PlanK100() => PlanK100Now().Sites.Count;

    // A new target each time: the fingerprint is part of what is measured, as it was when the planner took the sites.
    private SteeringPlan PlanK100Now() =>
        SteeringPlanner.Plan(new SteeringTarget(_lean, _sites), new InMemoryProfile(_profile, "bench", _profilePath), new PatchRequest(k: 100)).Plan;

    [Benchmark(Description = "GraphPatcher.Apply k=100 (clone graph, insert Mul nodes, metadata)")]
    public int Apply() => GraphPatcher.Apply(_lean, _plan, PatchOptions.Default).Model.Graph.Node.Count;
}
