using OnnxSteer.Evaluation;
using OnnxSteer.Import;
using OnnxSteer.Pairs;
using OnnxSteer.ProfileRuns;
using OnnxSteer.Recording;
using OnnxSteer.Sites;
using OnnxSteer.Sweeping;
using OnnxSteer.Tests.Infrastructure;

namespace OnnxSteer.Tests.Sweeping;

/// <summary>
/// One real sweep shared by the sweep tests: stories260K (imported, genai style, fp32) profiled on COPA val.jsonl
/// records 0..23 (attn sites), then swept over k {1, 4} × alpha {1, 20} with 8 validation and 8 test items in loglik
/// mode, its outputs written to a temporary folder (removed when the test process exits). Built lazily on first use,
/// so it is never built when ../shared is absent and the tests are skipped. Everything is computed by the code under
/// test; the tests recompute what they check independently.
/// </summary>
public sealed class SweepFixture
{
    private static readonly Lazy<SweepFixture> Instance = new(() => new SweepFixture());

    /// <summary>The one sweep of this test run.</summary>
    public static SweepFixture Shared => Instance.Value;

    /// <summary>Records the profile's pairs came from.</summary>
    public const int ProfilePairs = 24;

    public string Dir { get; } = Path.Combine(Path.GetTempPath(), $"onnxsteer-sweep-{Guid.NewGuid():N}");
    public string Model { get; } = ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp32);
    public static string CopaVal => SharedData.Path("data", "copa", "val.jsonl");
    public string ProfilePath => Path.Combine(Dir, "profile.json");
    public string OutDir => Path.Combine(Dir, "out");
    internal SweepResult Result { get; }
    internal IReadOnlyList<SweepResult> Checkpoints { get; }

    private SweepFixture()
    {
        Directory.CreateDirectory(Dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(Dir, recursive: true); }
            catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        var pairs = TaskPairs.Build(BenchmarkTask.Copa, CopaVal, new PairOptions(Limit: ProfilePairs));
        var profile = ProfileRunner.Run(new ProfileRequest { ModelPath = Model, Pairs = pairs, Settings = new ProfileSettings { Sites = [SiteKind.Attn], K = 2, Alpha = 5 } });
        profile.Save(ProfilePath);
        var checkpoints = new List<SweepResult>();
        Result = SweepRunner.Run(Request(), checkpoint: checkpoints.Add);
        Checkpoints = checkpoints;
        SweepReport.Write(OutDir, Result);
    }

    /// <summary>The sweep's request (no offset: the runner must move the slices past the profile's 24 records itself).</summary>
    internal SweepRequest Request() => new()
    {
        ModelPath = Model,
        ProfilePath = ProfilePath,
        Task = BenchmarkTask.Copa,
        DataPath = CopaVal,
        Ks = [1, 4],
        Alphas = [1, 20],
        Validation = 8,
        Test = 8,
        Mode = EvalMode.Loglik,
    };
}
