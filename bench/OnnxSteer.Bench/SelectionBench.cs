using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Text;
using OnnxSteer.Evaluation;
using OnnxSteer.Generation;
using OnnxSteer.Pairs;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.ProfileRuns;
using OnnxSteer.Recording;
using OnnxSteer.Sites;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Bench;

/// <summary>
/// The selection study of issue 17 (docs/selection.md): for each pair set, profile once, then select with every
/// tie-break × direction rule, patch, and measure on held-out material only: the layers the picks land in, the behaviour
/// rate of greedy continuations, the log-prob margin of the target words, and the log-likelihood change on vanilla
/// continuations of neutral prompts.
/// </summary>
public static class SelectionBench
{
    private sealed record Study(string Name, string Train, int Pairs, string Heldout, string Prompts, string[] PosWords, string[] NegWords,
        SiteKind Site, int K, double Alpha);

    /// <summary>Runs every study on the model in <paramref name="modelDir"/> with the files in <paramref name="dataDir"/>.</summary>
    public static void Run(string modelDir, string dataDir, string work, Report report)
    {
        string D(string f) => Path.Combine(dataDir, f);
        string[] happy = ["happy", "glad", "smiled", "smile", "laughed", "fun", "joy"], sad = ["sad", "cried", "cry", "upset", "scared", "angry", "mad"];
        string[] dog = ["dog", "dogs", "puppy"], cat = ["cat", "cats", "kitten"];
        var studies = new List<Study>();
        foreach (var n in new[] { 16, 64, 256 })
            studies.Add(new Study($"happy/sad N={n}", D("happy-sad.train.jsonl"), n, D("happy-sad.heldout.jsonl"), D("happy-sad.prompts.jsonl"), happy, sad, SiteKind.Mlp, 8, 2));
        foreach (var n in new[] { 16, 64, 256 })
            studies.Add(new Study($"happy/sad N={n}", D("happy-sad.train.jsonl"), n, D("happy-sad.heldout.jsonl"), D("happy-sad.prompts.jsonl"), happy, sad, SiteKind.MlpOut, 4, 3));
        studies.Add(new Study("dog/cat \" dog.\" N=32", D("dog-cat.train.jsonl"), 32, D("dog-cat.heldout.jsonl"), D("dog-cat.prompts.jsonl"), dog, cat, SiteKind.MlpOut, 4, 3));
        studies.Add(new Study("dog/cat \" dog\" N=32", D("dog-cat-word.train.jsonl"), 32, D("dog-cat.heldout.jsonl"), D("dog-cat.prompts.jsonl"), dog, cat, SiteKind.MlpOut, 4, 3));
        studies.Add(new Study("dog/cat \" dog.\" N=32", D("dog-cat.train.jsonl"), 32, D("dog-cat.heldout.jsonl"), D("dog-cat.prompts.jsonl"), dog, cat, SiteKind.Mlp, 8, 2));
        studies.Add(new Study("dog/cat \" dog\" N=32", D("dog-cat-word.train.jsonl"), 32, D("dog-cat.heldout.jsonl"), D("dog-cat.prompts.jsonl"), dog, cat, SiteKind.Mlp, 8, 2));

        var tokenizer = TokenizerLoader.Load(modelDir);
        var neutralPrompts = Prompts(D("neutral.prompts.jsonl"));
        List<string> neutralTexts;
        using (var vanilla = DecoderModel.Open(modelDir))
            neutralTexts = neutralPrompts.Select(p => p + Continue(vanilla, tokenizer, p, 30)).ToList();
        var baseline = new Dictionary<string, Metrics>();

        var table = new StringBuilder();
        table.AppendLine("| pairs | site k α | tie-break | direction | layers of picks | neg-mean units | p_adj < .05 | warnings | behaviour +/− (vanilla) | Δ margin (nats) | Δ neutral loglik (nats/token) |");
        table.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        var warningsLog = new StringBuilder();
        foreach (var study in studies)
        {
            var pairs = PairsJsonl.Read(study.Train, new PairOptions(Limit: study.Pairs));
            var profile = ProfileRunner.Run(new ProfileRequest
            { ModelPath = modelDir, Pairs = pairs, Settings = new ProfileSettings { Sites = [study.Site], K = study.K, Alpha = study.Alpha, BatchSize = 16 } });
            var heldout = PairsJsonl.Read(study.Heldout, new PairOptions()).Pairs;
            var prompts = Prompts(study.Prompts);
            var baseKey = study.Heldout + study.Prompts;
            if (!baseline.TryGetValue(baseKey, out var vanillaMetrics))
            {
                using var vanilla = DecoderModel.Open(modelDir);
                baseline[baseKey] = vanillaMetrics = Measure(vanilla, tokenizer, heldout, prompts, neutralTexts, study);
            }
            foreach (var tieBreak in new[] { TieBreak.Released, TieBreak.Effect })
            foreach (var direction in new[] { DirectionRule.Released, DirectionRule.SignAware })
            {
                var selected = UnitSelector.Select(profile, study.K, study.Alpha, [study.Site], false, SteeringMethod.AuSteer, 0, null, tieBreak, direction);
                var warnings = SelectionWarnings.For(selected);
                var profilePath = Path.Combine(work, "selection-profile.json");
                var steeredDir = Path.Combine(work, "selection-steered");
                if (Directory.Exists(steeredDir)) Directory.Delete(steeredDir, true);
                selected.Save(profilePath);
                Steerer.Patch(modelDir, profilePath, steeredDir);
                Metrics m;
                using (var steered = DecoderModel.Open(steeredDir))
                    m = Measure(steered, tokenizer, heldout, prompts, neutralTexts, study);
                var layers = string.Join(" ", selected.Units.GroupBy(u => u.Layer).OrderBy(g => g.Key).Select(g => $"L{g.Key}×{g.Count()}"));
                var negMean = selected.Units.Count(u => u.MeanPos + u.MeanNeg < 0);
                var significant = selected.Units.Count(u => u.PAdjusted < UnitEvidence.Level);
                table.AppendLine(Inv($"| {study.Name} | {study.Site.ToName()} {study.K} {study.Alpha} | {tieBreak.ToName()} | {direction.ToName()} | {layers} | {negMean}/{selected.Units.Count} | {significant}/{selected.Units.Count} | {warnings.Count} | {m.PosRate:0.00}/{m.NegRate:0.00} ({vanillaMetrics.PosRate:0.00}/{vanillaMetrics.NegRate:0.00}) | {m.Margin - vanillaMetrics.Margin:+0.000;-0.000} | {m.NeutralLogLik - vanillaMetrics.NeutralLogLik:+0.0000;-0.0000} |"));
                if (tieBreak == TieBreak.Released && direction == DirectionRule.Released)
                    foreach (var w in warnings) warningsLog.AppendLine(Inv($"- {study.Name}, {study.Site.ToName()} k {study.K}: {w}"));
                Console.Error.WriteLine($"{study.Name} {study.Site.ToName()} {tieBreak.ToName()} {direction.ToName()}: done");
            }
        }
        report.Line("## Selection study (issue 17)").Line().Line(table.ToString()).Line("Warnings printed with the released rules:").Line().Line(warningsLog.ToString());
    }

    private sealed record Metrics(double PosRate, double NegRate, double Margin, double NeutralLogLik);

    private static Metrics Measure(DecoderModel model, ITokenizer tok, IReadOnlyList<ContrastivePair> heldout, List<string> prompts,
        List<string> neutral, Study study)
    {
        var margin = DirectionCheck.Margins(model, tok, heldout).Average();
        int pos = 0, neg = 0;
        foreach (var prompt in prompts)
        {
            var text = Continue(model, tok, prompt, 20).ToLowerInvariant();
            if (study.PosWords.Any(w => Regex.IsMatch(text, $@"\b{w}\b"))) pos++;
            if (study.NegWords.Any(w => Regex.IsMatch(text, $@"\b{w}\b"))) neg++;
        }
        var fluency = Fluency.Measure(model, tok, neutral);
        return new Metrics((double)pos / prompts.Count, (double)neg / prompts.Count, margin, fluency.MeanLogLikelihood);
    }

    private static string Continue(DecoderModel model, ITokenizer tok, string prompt, int tokens)
    {
        var ids = tok.EncodeToIds(prompt);
        var result = new Generator(model).Generate(ids, new SamplingSettings { MaxTokens = tokens });
        return tok.Decode(result.GeneratedIds);
    }

    private static List<string> Prompts(string path) =>
        File.ReadLines(path).Where(l => l.Trim().Length > 0).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("prompt").GetString()!).ToList();

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
