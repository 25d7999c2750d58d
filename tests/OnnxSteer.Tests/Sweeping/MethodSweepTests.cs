using System.Text.Json;
using OnnxSteer.Evaluation;
using OnnxSteer.Generation;
using OnnxSteer.Import;
using OnnxSteer.Numerics;
using OnnxSteer.Pairs;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Profiling;
using OnnxSteer.Sites;
using OnnxSteer.Sweeping;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Sweeping;

/// <summary>
/// One small sweep over all four methods, through the library's front door (<see cref="Steerer.CompareMethods"/>):
/// stories260K profiled on 32 happy/sad training pairs (attn and mlp-out), compared on bench/methods' held-out items
/// (new names and events) with 12 validation and 24 test items, unit methods over k {1, 4} × alpha {1, 5}, caa over
/// strength {0.5, 2} × layers {2, all}, on 5 of the built-in neutral texts. Its outputs are written to a temporary
/// folder. Built lazily, so it is never built when ../shared is absent.
/// </summary>
public sealed class MethodSweepFixture
{
    private static readonly Lazy<MethodSweepFixture> Instance = new(() => new MethodSweepFixture());
    public static MethodSweepFixture Shared => Instance.Value;

    public const int Validation = 12, Test = 24;
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), $"onnxsteer-methods-{Guid.NewGuid():N}");
    public string Model { get; } = ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp32);
    public static string Items => Path.Combine(SharedData.RepoRoot, "bench", "methods", "happy-sad.items.jsonl");
    public static string TrainPairs => Path.Combine(SharedData.RepoRoot, "bench", "selection", "happy-sad.train.jsonl");
    public string ProfilePath => Path.Combine(Dir, "profile.json");
    public string OutDir => Path.Combine(Dir, "out");
    public MethodComparison Comparison { get; }
    internal MethodSweepResult Result => Comparison.Result;

    private MethodSweepFixture()
    {
        Directory.CreateDirectory(Dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(Dir, recursive: true); }
            catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        var pairs = PairsJsonl.Read(TrainPairs, new PairOptions(Limit: 32));
        var profile = ProfileRunner.Run(new ProfileRequest { ModelPath = Model, Pairs = pairs, Settings = new ProfileSettings { Sites = [SiteKind.Attn, SiteKind.MlpOut], K = 2, Alpha = 2 } });
        profile.Save(ProfilePath);
        Comparison = Steerer.CompareMethods(Model, ProfilePath, Settings(Items));
        Comparison.Write(OutDir);
    }

    public static CompareSettings Settings(string data) => new()
    {
        Data = data, Validation = Validation, Test = Test, Ks = [1, 4], Alphas = [1, 5], CaaAlphas = [0.5, 2], Layers = "2,all",
        FluencyTexts = NeutralTexts.Default.Take(5).ToList(),
    };
}

public class MethodSweepTests(ITestOutputHelper output)
{
    private static MethodSweepFixture F => MethodSweepFixture.Shared;

    [SharedFact]
    public void Every_method_runs_its_own_grid_under_one_protocol_and_reports_its_scalars()
    {
        var r = F.Result;
        output.WriteLine(F.Comparison.Summary);
        Assert.False(r.Interrupted);
        Assert.Equal([SteeringMethod.AuSteer, SteeringMethod.Caa, SteeringMethod.ActDiff, SteeringMethod.Random], r.Methods.Select(o => o.Method));
        foreach (var o in r.Methods)
        {
            if (o.Method == SteeringMethod.Caa)
            {
                Assert.Equal([("2", 0.5), ("2", 2.0), ("0,1,2,3,4", 0.5), ("0,1,2,3,4", 2.0)], o.Settings.Select(s => (s.Setting.Layers!, s.Setting.Alpha)));
                // A caa vector per site of each kind at each layer: 64 attn + 64 mlp-out scalars per layer of stories260K.
                Assert.Equal([128, 128, 640, 640], o.Settings.Select(s => s.Units));
            }
            else
            {
                Assert.Equal([(1, 1.0), (1, 5.0), (4, 1.0), (4, 5.0)], o.Settings.Select(s => (s.Setting.K, s.Setting.Alpha)));
                // k per site kind, two kinds.
                Assert.Equal([2, 2, 8, 8], o.Settings.Select(s => s.Units));
            }
            Assert.All(o.Settings, s => Assert.Equal(o.Method, s.Setting.Method));
            // Each method's best is the validation argmax by the tie rule, recomputed here from the items.
            var most = o.Settings.Max(s => s.Validation.Items.Count(i => i.Correct));
            var expected = o.Settings.Where(s => s.Validation.Items.Count(i => i.Correct) == most)
                .OrderBy(s => s.Setting.K).ThenBy(s => s.Units).ThenBy(s => Math.Abs(s.Setting.Alpha)).ThenByDescending(s => s.Setting.Alpha).First();
            Assert.Equal(expected.Setting, o.Best!.Setting);
        }
        // The methods differ: not one selection under four names.
        var selections = r.Methods.Select(o => string.Join(";", o.BestProfile!.Units.Select(u => $"{u.Site}.{u.Index}")) + o.BestProfile.Caa.Count).Distinct();
        Assert.True(selections.Count() >= 3, "the methods' selections coincide");
        // The library's summary carries the same numbers.
        Assert.Equal(r.Methods.Select(o => o.Best!.Units), F.Comparison.Methods.Select(m => m.Scalars));
    }

    [SharedFact]
    public void Validation_choices_never_see_the_test_items()
    {
        var r = F.Result;
        Assert.Equal(MethodSweepFixture.Validation, r.ValidationIds.Count);
        Assert.Equal(MethodSweepFixture.Test, r.TestIds.Count);
        Assert.Empty(r.ValidationIds.Intersect(r.TestIds));
        // The same sweep on a copy of the data whose test records are different items (answers swapped, other prompts):
        // every validation number and every choice must be the same; only the test scores may move.
        var changed = Path.Combine(F.Dir, "changed-test.jsonl");
        var lines = File.ReadAllLines(MethodSweepFixture.Items);
        var rewritten = lines.Select((l, i) =>
        {
            if (i < MethodSweepFixture.Validation) return l;
            var p = JsonDocument.Parse(l).RootElement;
            return JsonSerializer.Serialize(new { prompt = "The day was long. " + p.GetProperty("prompt").GetString(), positive = " sad", negative = " happy" });
        });
        File.WriteAllLines(changed, rewritten);
        var again = Steerer.CompareMethods(F.Model, F.ProfilePath, MethodSweepFixture.Settings(changed)).Result;
        for (var m = 0; m < r.Methods.Count; m++)
        {
            var (a, b) = (r.Methods[m], again.Methods[m]);
            Assert.Equal(a.Settings.Select(s => s.Validation.Items.Select(i => i.LogLikelihoods!.ToArray()).SelectMany(x => x)),
                b.Settings.Select(s => s.Validation.Items.Select(i => i.LogLikelihoods!.ToArray()).SelectMany(x => x)));
            Assert.Equal(a.Best!.Setting, b.Best!.Setting);
            Assert.Equal(a.Front.Select(s => s.Setting), b.Front.Select(s => s.Setting));
        }
        Assert.Equal(r.Chosen?.Method, again.Chosen?.Method);
        // ... and the test slice really was different: the vanilla model's answers to it changed.
        Assert.NotEqual(r.VanillaTest!.Items.Select(i => i.Correct), again.VanillaTest!.Items.Select(i => i.Correct));
    }

    [SharedFact]
    public void Each_methods_best_profile_reproduces_its_reported_validation_and_test_scores()
    {
        var r = F.Result;
        var tokenizer = TokenizerLoader.Load(F.Model);
        var validation = EvalItems.Load(BenchmarkTask.Pairs, MethodSweepFixture.Items, 0, MethodSweepFixture.Validation);
        var test = EvalItems.Load(BenchmarkTask.Pairs, MethodSweepFixture.Items, MethodSweepFixture.Validation, MethodSweepFixture.Test);
        using var vanilla = DecoderModel.Open(F.Model);
        var vanillaTest = new Evaluator(vanilla, tokenizer).Run(BenchmarkTask.Pairs, EvalMode.Loglik, test);
        Assert.Equal(r.VanillaTest!.Correct, vanillaTest.Correct);
        foreach (var o in r.Methods)
        {
            // The file the sweep wrote, patched to disk by the ordinary patch path, evaluated afresh.
            var path = Path.Combine(F.OutDir, MethodSweepReport.BestProfileFile(o.Method));
            var dir = Path.Combine(F.Dir, $"patched-{o.Method.ToName()}");
            Steerer.Patch(F.Model, path, dir, null);
            using var steered = DecoderModel.Open(dir);
            var evaluator = new Evaluator(steered, tokenizer);
            var val = evaluator.Run(BenchmarkTask.Pairs, EvalMode.Loglik, validation);
            var tst = evaluator.Run(BenchmarkTask.Pairs, EvalMode.Loglik, test);
            Assert.Equal(o.Best!.Validation.Items.Select(i => i.Correct), val.Items.Select(i => i.Correct));
            Assert.Equal(o.Test!.Result.Items.Select(i => i.Correct), tst.Items.Select(i => i.Correct));
            // Paired statistics from these fresh runs: McNemar against vanilla, and the margin change (t interval).
            var counts = PairedCounts.Count(vanillaTest.Items.Select(i => i.Correct).ToList(), tst.Items.Select(i => i.Correct).ToList());
            Assert.Equal(counts, o.Test.VsVanilla.Counts);
            // Pairs are scored as the choices [negative, positive]: the margin is positive minus negative.
            var m0 = vanillaTest.Items.Select(i => i.LogLikelihoods![1] - i.LogLikelihoods[0]).ToList();
            var m1 = tst.Items.Select(i => i.LogLikelihoods![1] - i.LogLikelihoods[0]).ToList();
            var d = m0.Zip(m1, (a, b) => b - a).ToList();
            var mean = d.Average();
            var sd = Math.Sqrt(d.Sum(x => (x - mean) * (x - mean)) / (d.Count - 1));
            const double t23 = 2.0687; // Student's t, 0.975 quantile, 23 degrees of freedom (table)
            Assert.Equal(mean, o.Test.MarginVsVanilla!.Value.Mean, 9);
            Assert.Equal(mean - t23 * sd / Math.Sqrt(d.Count), o.Test.MarginVsVanilla.Value.Low, 3);
            var reported = F.Comparison.Methods.Single(s => s.Method == o.Method);
            Assert.Equal(tst.Correct, reported.TestCorrect);
            Assert.Equal(val.Correct, reported.ValidationCorrect);
        }
    }

    [SharedFact]
    public void Fronts_are_the_non_dominated_settings_and_methods_json_and_pareto_png_agree_with_the_run()
    {
        var r = F.Result;
        var vanilla = r.VanillaFluency!;
        foreach (var o in r.Methods)
        {
            // Brute force: a setting is dominated when another is at least as accurate and at most as costly, better in one.
            var cost = o.Settings.ToDictionary(s => s, s => vanilla.MeanLogLikelihood - s.Fluency.MeanLogLikelihood);
            var undominated = o.Settings.Where(s => !o.Settings.Any(t => t != s && t.Validation.Accuracy >= s.Validation.Accuracy && cost[t] <= cost[s]
                && (t.Validation.Accuracy > s.Validation.Accuracy || cost[t] < cost[s]))).ToList();
            // Settings equal on both axes count once.
            var distinct = undominated.GroupBy(s => (s.Validation.Correct, cost[s])).Select(g => g.Key).OrderBy(k => k.Item2).ToList();
            Assert.Equal(distinct, o.Front.Select(s => (s.Validation.Correct, cost[s])));
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(F.OutDir, MethodSweepReport.JsonFile)));
        var root = doc.RootElement;
        Assert.Equal(MethodSweepReport.Schema, root.GetProperty("schema").GetString());
        var results = root.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(4, results.Count);
        for (var m = 0; m < 4; m++)
        {
            var o = r.Methods[m];
            Assert.Equal(o.Method.ToName(), results[m].GetProperty("method").GetString());
            Assert.Equal(o.Settings.Select(s => s.Validation.Correct), results[m].GetProperty("settings").EnumerateArray().Select(s => s.GetProperty("validation").GetProperty("correct").GetInt32()));
            Assert.Equal(o.Front.Count, results[m].GetProperty("settings").EnumerateArray().Count(s => s.GetProperty("on_front").GetBoolean()));
            Assert.Equal(o.Best!.Units, results[m].GetProperty("best").GetProperty("scalars").GetInt32());
            var paired = results[m].GetProperty("test").GetProperty("paired");
            Assert.Equal(Statistics.McNemarExactP(paired.GetProperty("only_vanilla").GetInt32(), paired.GetProperty("only_steered").GetInt32()),
                paired.GetProperty("mcnemar_exact_p").GetDouble(), 12);
        }
        Assert.Equal(6, root.GetProperty("pairs").GetArrayLength());
        var pair = r.Pairs[0];
        Assert.Equal(PairedCounts.Count(r.Methods[0].Test!.Result.Items.Select(i => i.Correct).ToList(), r.Methods[1].Test!.Result.Items.Select(i => i.Correct).ToList()),
            pair.Comparison.Counts);

        var (w, h, pixels) = HeatmapPictureTests.Decode(File.ReadAllBytes(Path.Combine(F.OutDir, MethodSweepReport.ParetoPngFile)));
        Assert.True(w > 800 && h > 400, $"{w}×{h}");
        foreach (var method in r.Methods.Select(o => o.Method))
            Assert.True(pixels.Count(p => p == ParetoPng.Colour(method)) > 200, $"{method} is not drawn");
    }

    [Fact]
    public void Student_t_quantiles_match_the_table_and_margins_are_right_minus_best_wrong()
    {
        // Table values of t(0.975, df).
        foreach (var (df, t) in new[] { (1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (5, 2.5706), (6, 2.4469), (10, 2.2281), (23, 2.0687), (30, 2.0423), (120, 1.9799) })
            Assert.True(Math.Abs(MeanDifference.StudentT975(df) - t) < 0.001, $"df {df}: {MeanDifference.StudentT975(df)} vs {t}");
        var d = MeanDifference.Paired([0, 0, 0, 0], [1, 2, 3, 4]);
        Assert.Equal(2.5, d.Mean);
        Assert.Equal(2.5 - 3.182446 * Math.Sqrt(5.0 / 3) / 2, d.Low, 2);
        Assert.True(d.Resolved);
        var items = new List<EvalItem> { new("a", "p", ["x", "y", "z"], 1), new("b", "p", ["x", "y"], 0) };
        var result = new EvalResult(BenchmarkTask.Copa, EvalMode.Loglik,
            [new ItemResult("a", "z", "y", false, false, [-1.0, -2.0, -0.5]), new ItemResult("b", "x", "x", true, true, [-1.0, -3.0])], false);
        Assert.Equal([-1.5, 2.0], Margins.Of(result, items)!);
    }

    [SharedFact]
    public void Cli_sweep_methods_writes_the_fronts_and_refuses_caa_options_without_methods()
    {
        var dir = Path.Combine(F.Dir, "cli");
        var (code, stdout, stderr) = CliProcess.Run(null, "sweep", F.Model, "--profile", F.ProfilePath, "--task", "pairs", "--data", MethodSweepFixture.Items,
            "--methods", "austeer,caa", "--k", "4", "--alpha", "5", "--caa-alpha", "2", "--layers", "2", "--val", "12", "--test", "24",
            "--out-dir", dir, "--threads", "1", "--fluency", WriteTexts());
        Assert.True(code == 0, stderr);
        Assert.Contains("best on validation", stdout);
        foreach (var f in new[] { MethodSweepReport.JsonFile, MethodSweepReport.ParetoPngFile, "best-austeer.json", "best-caa.json" })
            Assert.True(File.Exists(Path.Combine(dir, f)), f);
        // The CLI's numbers are the library's for the settings both ran.
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, MethodSweepReport.JsonFile)));
        var austeer = doc.RootElement.GetProperty("results")[0].GetProperty("settings")[0];
        Assert.Equal(F.Result.Methods[0].Settings.Single(s => s.Setting.K == 4 && s.Setting.Alpha == 5).Validation.Correct,
            austeer.GetProperty("validation").GetProperty("correct").GetInt32());

        var (bad, _, badErr) = CliProcess.Run(null, "sweep", F.Model, "--profile", F.ProfilePath, "--task", "pairs", "--data", MethodSweepFixture.Items,
            "--layers", "2", "--val", "4", "--out-dir", Path.Combine(F.Dir, "cli-bad"));
        Assert.Equal(global::OnnxSteer.Cli.ExitCodes.Usage, bad);
        Assert.Contains("--methods", badErr);
        var (unknown, _, unknownErr) = CliProcess.Run(null, "sweep", F.Model, "--profile", F.ProfilePath, "--task", "pairs", "--data", MethodSweepFixture.Items,
            "--methods", "austeer,iti", "--val", "4", "--out-dir", Path.Combine(F.Dir, "cli-bad"));
        Assert.Equal(global::OnnxSteer.Cli.ExitCodes.Usage, unknown);
        Assert.Contains("unknown method 'iti'", unknownErr);
    }

    private static string WriteTexts()
    {
        var path = Path.Combine(F.Dir, "texts.txt");
        File.WriteAllLines(path, NeutralTexts.Default.Take(5));
        return path;
    }
}
