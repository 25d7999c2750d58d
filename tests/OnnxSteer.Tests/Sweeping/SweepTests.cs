using OnnxSteer.Numerics;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using OnnxSteer.Evaluation;
using OnnxSteer.Generation;
using OnnxSteer.Pairs;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Tests.Reference;
using OnnxSteer.Sites;
using OnnxSteer.Sweeping;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;
using Xunit.Abstractions;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Sweeping;

/// <summary>
/// The sweep end to end on stories260K and real COPA items (<see cref="SweepFixture"/>). A 260K-parameter story model is
/// at chance on COPA, so what is asserted is that the sweep does what it says: the in-memory steered model is the
/// patched file's model, the choice follows validation accuracy and the tie rule, the slices are disjoint, the
/// outputs agree with the run, and the fluency guard computes what it defines.
/// </summary>
public class SweepTests(ITestOutputHelper output)
{
    private static SweepFixture F => SweepFixture.Shared;

    [SharedFact]
    public void The_chosen_setting_is_the_validation_argmax_with_ties_to_smaller_k_then_smaller_alpha()
    {
        var r = F.Result;
        output.WriteLine(SweepReport.Text(r));
        Assert.False(r.Interrupted);
        Assert.Equal(4, r.Settings.Count);
        Assert.Equal(new[] { (1, 1.0), (1, 20.0), (4, 1.0), (4, 20.0) }, r.Settings.Select(s => (s.Setting.K, s.Setting.Alpha)));
        // Recomputed from the per-item outcomes: most items right; among those the smallest k, then the smallest alpha.
        var best = r.Settings.Max(s => s.Validation.Items.Count(i => i.Correct));
        var expected = r.Settings.Where(s => s.Validation.Items.Count(i => i.Correct) == best)
            .Select(s => s.Setting).OrderBy(s => s.K).ThenBy(s => Math.Abs(s.Alpha)).ThenByDescending(s => s.Alpha).First();
        Assert.True(best > r.VanillaValidation!.Correct, "the fixture's choice must beat the vanilla model, or nothing is chosen");
        Assert.Equal(expected, r.Chosen!.Setting);
        // The rule itself, on made-up accuracies where each tie-break matters.
        SettingResult Fake(int k, double alpha, int correct) => new(new SweepSetting(k, alpha), k,
            new EvalResult(BenchmarkTask.Copa, EvalMode.Loglik, Enumerable.Range(0, 4).Select(i => new ItemResult($"x:{i}", "A", "A", i < correct)).ToList(), false),
            new FluencyResult(-1, 1, 1, 0));
        Assert.Equal(new SweepSetting(2, 5), SettingChooser.Best([Fake(4, 1, 3), Fake(2, 50, 3), Fake(2, 5, 3), Fake(1, 1, 2)])!.Setting);
        // The fluency guard: settings more than the allowed drop below vanilla's fluency are passed over, ties or not.
        SettingResult Fluent(int k, int correct, double fluency) => Fake(k, 1, correct) with { Fluency = new FluencyResult(fluency, 10, 1, 0) };
        var vanilla = new FluencyResult(-2.0, 10, 1, 0);
        List<SettingResult> guarded = [Fluent(1, 4, -2.6), Fluent(2, 3, -2.08), Fluent(3, 3, -2.04)];
        Assert.Equal(1, SettingChooser.Best(guarded)!.Setting.K);
        Assert.Equal(2, SettingChooser.Best(guarded, vanilla, 0.1)!.Setting.K);
        Assert.Equal(3, SettingChooser.Best(guarded, vanilla, 0.05)!.Setting.K);
        Assert.Null(SettingChooser.Best(guarded, vanilla, 0.01));
        // Each setting's unit count is what the selector keeps for that k (attn only: k units).
        Assert.All(r.Settings, s => Assert.Equal(s.Setting.K, s.Units));
    }

    [SharedFact]
    public void Validation_and_test_slices_are_disjoint_and_skip_the_profiles_records()
    {
        var r = F.Result;
        Assert.Equal(8, r.ValidationIds.Count);
        Assert.Equal(8, r.TestIds.Count);
        Assert.Empty(r.ValidationIds.Intersect(r.TestIds));
        // Ids are "val.jsonl:LINE"; the profile used the first 24 records (lines 1..24: the file has no blank lines).
        var lines = r.ValidationIds.Concat(r.TestIds).Select(id => int.Parse(Regex.Match(id, @":(\d+)$").Groups[1].Value)).ToList();
        Assert.All(lines, line => Assert.True(line > SweepFixture.ProfilePairs, $"line {line} was one of the profile's pairs"));
        Assert.Equal(SweepFixture.ProfilePairs, r.Slices.Validation.Offset);
        // Every setting and both test runs saw exactly these items, in this order.
        Assert.All(r.Settings, s => Assert.Equal(r.ValidationIds, s.Validation.Items.Select(i => i.Id)));
        Assert.Equal(r.TestIds, r.Test!.Steered.Items.Select(i => i.Id));
        Assert.Equal(r.TestIds, r.Test.Vanilla.Items.Select(i => i.Id));
    }

    [SharedFact]
    public void In_memory_steering_gives_bitwise_the_logits_of_the_patched_file()
    {
        var steering = new InMemorySteering(F.Model, F.ProfilePath);
        var outDir = Path.Combine(F.Dir, "patched-k4-a20");
        Steerer.Patch(F.Model, F.ProfilePath, outDir, new PatchSettings { K = 4, Alpha = 20, Sites = [SiteKind.Attn] });
        var tokenizer = TokenizerLoader.Load(F.Model);
        var ids = tokenizer.EncodeToIds(EvalItems.Load(BenchmarkTask.Copa, SweepFixture.CopaVal, 30, 1)[0].Prompt + "A");

        using var fromFile = DecoderModel.Open(outDir);
        using var inMemory = steering.Open(steering.Select(new SweepSetting(4, 20), [SiteKind.Attn]));
        using var vanilla = steering.OpenVanilla();
        var a = fromFile.Forward(ids).Data;
        var b = inMemory.Forward(ids).Data;
        Assert.Equal(a.Length, b.Length);
        Assert.True(a.AsSpan().SequenceEqual(b), "in-memory and file-patched logits differ");
        // And the steering is really there: alpha 20 on 4 units moves the logits.
        Assert.False(vanilla.Forward(ids).Data.AsSpan().SequenceEqual(b), "the steered logits equal the vanilla ones");
    }

    [SharedFact]
    public void Chosen_profile_json_loads_in_patch_and_steers_exactly_like_the_chosen_setting()
    {
        var path = Path.Combine(F.OutDir, SweepReport.ChosenProfileFile);
        var chosen = SteeringProfile.Load(path);
        Assert.Equal(F.Result.Chosen!.Setting.K, chosen.Selection.K);
        Assert.Equal(F.Result.Chosen.Setting.Alpha, chosen.Selection.Alpha);
        // patch with the stored selection (no --k/--alpha) ...
        var outDir = Path.Combine(F.Dir, "patched-chosen");
        Steerer.Patch(F.Model, path, outDir, null);
        // ... and the sweep's own re-selection of the chosen setting from the original profile give the same units and logits.
        var steering = new InMemorySteering(F.Model, F.ProfilePath);
        var reselected = steering.Select(F.Result.Chosen.Setting, [SiteKind.Attn]);
        Assert.Equal(reselected.Units.Select(u => (u.Site, u.Index, u.Gamma)), chosen.Units.Select(u => (u.Site, u.Index, u.Gamma)));
        var ids = TokenizerLoader.Load(F.Model).EncodeToIds("Once upon a time, there was a little dog.");
        using var fromFile = DecoderModel.Open(outDir);
        using var inMemory = steering.Open(reselected);
        Assert.True(fromFile.Forward(ids).Data.AsSpan().SequenceEqual(inMemory.Forward(ids).Data));
    }

    [SharedFact]
    public void Heatmap_svg_is_xml_with_one_cell_per_setting_and_only_the_chosen_one_marked()
    {
        var doc = XDocument.Load(Path.Combine(F.OutDir, SweepReport.HeatmapFile));
        XNamespace svg = "http://www.w3.org/2000/svg";
        Assert.Equal(svg + "svg", doc.Root!.Name);
        var cells = doc.Descendants(svg + "rect").Where(e => ((string?)e.Attribute("class"))?.Split(' ').Contains("cell") == true).ToList();
        Assert.Equal(4, cells.Count);
        foreach (var s in F.Result.Settings)
        {
            var cell = Assert.Single(cells, c => (string?)c.Attribute("data-k") == s.Setting.K.ToString() && (string?)c.Attribute("data-alpha") == s.Setting.Alpha.ToString());
            Assert.Equal(s.Validation.Accuracy, double.Parse((string)cell.Attribute("data-accuracy")!, System.Globalization.CultureInfo.InvariantCulture), 3);
        }
        var chosen = Assert.Single(cells, c => ((string)c.Attribute("class")!).Contains("chosen"));
        Assert.Equal(F.Result.Chosen!.Setting.K.ToString(), (string?)chosen.Attribute("data-k"));
        Assert.Equal(F.Result.Chosen.Setting.Alpha.ToString(), (string?)chosen.Attribute("data-alpha"));
        Assert.Single(doc.Descendants(svg + "rect"), e => (string?)e.Attribute("class") == "legend");
    }

    [SharedFact]
    public void Sweep_json_holds_every_setting_and_the_paired_test_agrees_with_the_items_file()
    {
        var r = F.Result;
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(F.OutDir, SweepReport.JsonFile)));
        var root = doc.RootElement;
        Assert.Equal(SweepReport.Schema, root.GetProperty("schema").GetString());
        var settings = root.GetProperty("settings").EnumerateArray().ToList();
        Assert.Equal(4, settings.Count);
        for (var i = 0; i < 4; i++)
        {
            var v = settings[i].GetProperty("validation");
            Assert.Equal(r.Settings[i].Validation.Correct, v.GetProperty("correct").GetInt32());
            var ci = Statistics.Wilson(r.Settings[i].Validation.Correct, 8);
            Assert.Equal(ci.Low, v.GetProperty("ci95")[0].GetDouble(), 12);
            Assert.Equal(ci.High, v.GetProperty("ci95")[1].GetDouble(), 12);
            Assert.Equal(r.Settings[i].Fluency.MeanLogLikelihood, settings[i].GetProperty("fluency").GetProperty("mean_loglik").GetDouble());
        }
        Assert.Equal(r.Chosen!.Setting.K, root.GetProperty("chosen").GetProperty("k").GetInt32());
        Assert.False(root.GetProperty("interrupted").GetBoolean());
        // One checkpoint per setting, each with the settings finished so far.
        Assert.Equal([1, 2, 3, 4], F.Checkpoints.Select(c => c.Settings.Count));

        var lines = File.ReadAllLines(Path.Combine(F.OutDir, SweepReport.TestItemsFile)).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(8, lines.Count);
        var vanilla = lines.Select(l => l.GetProperty("correct").GetBoolean()).ToList();
        var steered = lines.Select(l => l.GetProperty("against_correct").GetBoolean()).ToList();
        var paired = root.GetProperty("test").GetProperty("paired");
        var onlyVanilla = vanilla.Zip(steered).Count(z => z.First && !z.Second);
        var onlySteered = vanilla.Zip(steered).Count(z => !z.First && z.Second);
        Assert.Equal(onlyVanilla, paired.GetProperty("only_vanilla").GetInt32());
        Assert.Equal(onlySteered, paired.GetProperty("only_steered").GetInt32());
        Assert.Equal(Statistics.McNemarExactP(onlyVanilla, onlySteered), paired.GetProperty("mcnemar_exact_p").GetDouble(), 12);
        Assert.Equal(steered.Count(x => x), root.GetProperty("test").GetProperty("steered").GetProperty("correct").GetInt32());
    }

    [SharedFact]
    public void Fluency_at_alpha_zero_equals_the_vanilla_model_exactly()
    {
        var steering = new InMemorySteering(F.Model, F.ProfilePath);
        var tokenizer = TokenizerLoader.Load(F.Model);
        using var vanilla = steering.OpenVanilla();
        using var zero = steering.Open(steering.Select(new SweepSetting(4, 0), [SiteKind.Attn]));
        var a = Fluency.Measure(vanilla, tokenizer, NeutralTexts.Default);
        var b = Fluency.Measure(zero, tokenizer, NeutralTexts.Default);
        // gamma = 0 makes every factor exactly 1, and x·1 = x in IEEE arithmetic: not one bit may change.
        Assert.Equal(a.MeanLogLikelihood, b.MeanLogLikelihood);
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.Equal(F.Result.VanillaFluency!.MeanLogLikelihood, a.MeanLogLikelihood);
        // The chosen setting's fluency measured again on the model the test ran on equals its validation-time value.
        Assert.Equal(F.Result.Chosen!.Fluency.MeanLogLikelihood, F.Result.Test!.SteeredFluency.MeanLogLikelihood);
    }

    [SharedFact]
    public void Fluency_equals_the_mean_log_softmax_of_the_C_sharp_reference_forward_pass()
    {
        var tokenizer = TokenizerLoader.Load(F.Model);
        var reference = LlamaReference.Load(ImportedModels.CheckpointPath);
        double sum = 0;
        var tokens = 0;
        foreach (var text in NeutralTexts.Default)
        {
            var ids = tokenizer.EncodeToIds(text);
            var logits = reference.Forward(ids).Logits;
            for (var p = 1; p < ids.Count; p++)
            {
                // log softmax from the definition, in double: x_t - log Σ exp(x_i), shifted by the max.
                var row = logits[p - 1].Select(v => (double)v).ToArray();
                var max = row.Max();
                sum += row[ids[p]] - max - Math.Log(row.Sum(v => Math.Exp(v - max)));
                tokens++;
            }
        }
        var expected = sum / tokens;
        var measured = F.Result.VanillaFluency!;
        output.WriteLine($"fluency: ORT {measured.MeanLogLikelihood:R}, reference {expected:R} over {tokens} tokens");
        Assert.Equal(tokens, measured.Tokens);
        // fp32 ONNX Runtime vs the fp32 C# reference: logits agree to ~1e-5, so the mean of log-probabilities to well within 1e-4.
        Assert.True(Math.Abs(expected - measured.MeanLogLikelihood) <= 1e-4, $"ORT {measured.MeanLogLikelihood} vs reference {expected}");
    }

    [SharedFact]
    public void Cancelling_after_the_first_setting_keeps_it_and_chooses_nothing()
    {
        using var cancel = new CancellationTokenSource();
        var request = F.Request() with { Alphas = [1, 5, 20], Ks = [1], Validation = 4, Test = 4 };
        var r = SweepRunner.Run(request, checkpoint: _ => cancel.Cancel(), cancel: cancel.Token);
        Assert.True(r.Interrupted);
        Assert.Single(r.Settings);
        Assert.Null(r.Chosen);
        Assert.Null(r.Test);
        var dir = Path.Combine(F.Dir, "cancelled");
        // The folder held a finished sweep before: its choice and test items must not survive beside the new sweep.json.
        SweepReport.Write(dir, F.Result);
        Assert.True(File.Exists(Path.Combine(dir, SweepReport.TestItemsFile)));
        SweepReport.Write(dir, r);
        Assert.False(File.Exists(Path.Combine(dir, SweepReport.TestItemsFile)));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, SweepReport.JsonFile)));
        Assert.True(doc.RootElement.GetProperty("interrupted").GetBoolean());
        Assert.Equal(1, doc.RootElement.GetProperty("settings").GetArrayLength());
        Assert.False(File.Exists(Path.Combine(dir, SweepReport.ChosenProfileFile)));
        // The heat map still has a cell for every setting of the grid; the ones not reached are marked missing.
        var svg = XDocument.Load(Path.Combine(dir, SweepReport.HeatmapFile));
        Assert.Equal(2, svg.Descendants().Count(e => (string?)e.Attribute("class") == "cell missing"));
    }

    [SharedFact]
    public void A_pairs_file_sweeps_in_loglik_with_ids_from_its_lines()
    {
        var path = Path.Combine(F.Dir, "heldout-pairs.jsonl");
        File.WriteAllLines(path, new[]
        {
            ("Once upon a time, there was a little", " girl", " xylophone"), ("The sun was warm and the sky was", " blue", " loud"),
            ("Mom made soup for", " dinner", " Tom"), ("The cat sat by the", " window", " cat"),
            ("Tom had a red", " ball", " sky"), ("They went to the", " park", " soup"),
        }.Select(p => JsonSerializer.Serialize(new { prompt = p.Item1, positive = p.Item2, negative = p.Item3 })));
        var r = SweepRunner.Run(F.Request() with { Task = BenchmarkTask.Pairs, DataPath = path, Ks = [2], Alphas = [5], Validation = 3, Test = 10 });
        Assert.Equal([$"{path}:1", $"{path}:2", $"{path}:3"], r.ValidationIds);
        Assert.Equal([$"{path}:4", $"{path}:5", $"{path}:6"], r.TestIds);
        Assert.Contains("not heldout-pairs.jsonl", r.Slices.Notes[0].ToString());
        Assert.Equal("warning: only 3 test records after record 3 (--test 10)", ErrorReporter.Render(r.Slices.Notes[1]));
        Assert.Equal(new SweepSetting(2, 5), r.Best!.Setting);
        // The pairs are easy: the vanilla model gets all three right, so no setting beats it and nothing is chosen or tested.
        Assert.Equal(3, r.VanillaValidation!.Correct);
        Assert.Null(r.Chosen);
        Assert.Null(r.Test);
        Assert.Equal(ExitCodes.Usage, ErrorReporter.ExitCode(Assert.Throws<InvalidParameterException>(() =>
            SweepRunner.Run(F.Request() with { Task = BenchmarkTask.Pairs, DataPath = path, Mode = EvalMode.Generate }))));
    }

    [SharedFact]
    public void Cli_sweep_writes_its_outputs_and_refuses_an_offset_inside_the_profiles_pairs()
    {
        var dir = Path.Combine(F.Dir, "cli");
        var (code, stdout, stderr) = CliProcess.Run(null, "sweep", F.Model, "--profile", F.ProfilePath, "--task", "copa", "--data", SweepFixture.CopaVal,
            "--k", "4", "--alpha", "1,20", "--val", "8", "--test", "8", "--mode", "loglik", "--out-dir", dir, "--threads", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains("validation accuracy (8 items", stdout);
        Assert.Contains("McNemar exact p", stdout);
        Assert.Contains("after them, at record 24", stderr);
        foreach (var f in new[] { SweepReport.JsonFile, SweepReport.HeatmapFile, SweepReport.ChosenProfileFile, SweepReport.TestItemsFile })
            Assert.True(File.Exists(Path.Combine(dir, f)), f);
        // The CLI's validation numbers are the library's.
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, SweepReport.JsonFile)));
        Assert.Equal(F.Result.Settings.Where(s => s.Setting.K == 4).Select(s => s.Validation.Correct),
            doc.RootElement.GetProperty("settings").EnumerateArray().Select(s => s.GetProperty("validation").GetProperty("correct").GetInt32()));
        Assert.DoesNotContain(Directory.GetFiles(dir), f => f.EndsWith(".tmp", StringComparison.Ordinal));

        var (bad, _, badErr) = CliProcess.Run(null, "sweep", F.Model, "--profile", F.ProfilePath, "--task", "copa", "--data", SweepFixture.CopaVal,
            "--k", "1", "--alpha", "1", "--val", "4", "--test", "4", "--offset", "20", "--out-dir", Path.Combine(F.Dir, "cli-bad"));
        Assert.Equal(ExitCodes.Usage, bad);
        Assert.Contains("overlap the profile's pairs", badErr);
        Assert.False(Directory.Exists(Path.Combine(F.Dir, "cli-bad", SweepReport.JsonFile)));
    }

    // Issue 30: a tie between alpha and −alpha goes to the positive one (the profile's direction), not to the lower alpha.
    [SharedFact]
    public void A_tie_between_alpha_and_minus_alpha_goes_to_the_positive_alpha()
    {
        SettingResult Fake(double alpha, int correct) => new(new SweepSetting(2, alpha), 2,
            new EvalResult(BenchmarkTask.Copa, EvalMode.Loglik, Enumerable.Range(0, 4).Select(i => new ItemResult($"x:{i}", "A", "A", i < correct)).ToList(), false),
            new FluencyResult(-1, 1, 1, 0));
        Assert.Equal(5, SettingChooser.Best([Fake(-5, 3), Fake(5, 3), Fake(-20, 3)])!.Setting.Alpha);
        Assert.Equal(5, SettingChooser.Best([Fake(5, 3), Fake(-5, 3)])!.Setting.Alpha);
        // A negative alpha is chosen when it does better, and a smaller |alpha| still comes first.
        Assert.Equal(-5, SettingChooser.Best([Fake(-5, 4), Fake(5, 3)])!.Setting.Alpha);
        Assert.Equal(-1, SettingChooser.Best([Fake(5, 3), Fake(-1, 3)])!.Setting.Alpha);
    }

    // Issue 30: when no setting gets more validation items right than the vanilla model, nothing is chosen or tested.
    [SharedFact]
    public void A_sweep_where_nothing_beats_the_vanilla_model_chooses_nothing()
    {
        // alpha 0 leaves every factor at exactly 1: each setting is the vanilla model, item for item.
        var r = SweepRunner.Run(F.Request() with { Ks = [1, 4], Alphas = [0], Validation = 6, Test = 4 });
        Assert.False(r.Interrupted);
        Assert.Equal(2, r.Settings.Count);
        Assert.All(r.Settings, s => Assert.Equal(r.VanillaValidation!.Items.Select(i => i.Correct), s.Validation.Items.Select(i => i.Correct)));
        Assert.NotNull(r.Best);
        Assert.Null(r.Chosen);
        Assert.Null(r.ChosenProfile);
        Assert.Null(r.Test);
        var text = SweepReport.Text(r);
        Assert.Contains("nothing chosen: no setting gets more validation items right than the vanilla model", text);
        Assert.DoesNotContain("chosen on validation", text);
        using var doc = JsonDocument.Parse(SweepReport.Json(r));
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("chosen").ValueKind);
        Assert.False(doc.RootElement.GetProperty("best").GetProperty("beats_vanilla").GetBoolean());
    }

    // Issue 30: k beyond the units a kind holds selects every unit; such k are swept once, with a warning, not as duplicate rows.
    [SharedFact]
    public void K_beyond_the_units_is_swept_once_with_a_warning()
    {
        // The profile's attn sites: 5 layers × 64 = 320 units.
        var units = SteeringProfile.Load(F.ProfilePath).Sites.Where(s => s.Kind == SiteKind.Attn).Sum(s => s.Width);
        Assert.Equal(320, units);
        var r = SweepRunner.Run(F.Request() with { Ks = [1, 400, 1000], Alphas = [1], Validation = 2, Test = 2 });
        Assert.Equal([(1, 1.0), (320, 1.0)], r.Settings.Select(s => (s.Setting.K, s.Setting.Alpha)));
        Assert.Equal([1, 320], r.Request.Ks);
        Assert.Equal(320, r.Settings[1].Units);
        var warning = Assert.Single(r.Slices.Notes, n => n.ToString().Contains("exceed"));
        Assert.Equal("warning: --k 400, 1000 exceed the 320 units (attn): every such k selects every unit, so it is swept once, as k 320", ErrorReporter.Render(warning));
        // The text table has one row per distinct k.
        Assert.Equal(2, SweepReport.Text(r).Split('\n').Count(l => l.StartsWith("  320 ", StringComparison.Ordinal) || l.StartsWith("  1 ", StringComparison.Ordinal)) / 2);
    }
}
