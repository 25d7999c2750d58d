using System.Diagnostics;
using OnnxSteer.Generation;
using OnnxSteer.Patching;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Bench;

/// <summary>
/// B3: prefill of 128 tokens and greedy decode per token with the KV cache (<see cref="DecoderModel.Step"/>) on the
/// vanilla model and three steered copies, all sessions open at once and run round-robin.
/// </summary>
public static class InferenceBench
{
    private const string Text =
        "Once upon a time, in a quiet town by the sea, there lived an old sailor who told stories to the children every " +
        "evening. He spoke of storms that bent the masts, of islands where the birds had never seen a man, and of a lighthouse " +
        "keeper who sang to the whales. The children sat on the warm stones of the harbour wall and listened until the sun went " +
        "down and their mothers called them home for supper, and even then they begged for one more story about the sea.";

    public static void Run(string work, string vanillaDir, string profile, int rounds, int newTokens, Report report, RuntimeSettings settings, int promptTokens = 128)
    {
        PatchBench.EnsureProfile(vanillaDir, profile);
        var probed = WithProbes(profile);
        var variants = new (string Name, string Dir, PatchSettings Request, bool Fold, bool Dynamic)[]
        {
            ("vanilla", vanillaDir, new PatchSettings(), false, false),
            ("Mul k=100", Path.Combine(work, "mul"), new PatchSettings { K = 100 }, false, false),
            ("Mul every unit (attn+mlp)", Path.Combine(work, "all"), new PatchSettings { K = 100_000_000, Sites = [SiteKind.Attn, SiteKind.Mlp] }, false, false),
            ("folded k=100", Path.Combine(work, "fold"), new PatchSettings { K = 100 }, true, false),
            ("gated k=100 (dynamic)", Path.Combine(work, "gated"), new PatchSettings { K = 100 }, false, true),
        };
        var units = new Dictionary<string, string>();
        foreach (var v in variants.Skip(1))
        {
            if (Directory.Exists(v.Dir)) Directory.Delete(v.Dir, recursive: true);
            var o = Steerer.Patch(vanillaDir, v.Dynamic ? probed : profile, v.Dir, v.Request with { Fold = v.Fold, Dynamic = v.Dynamic });
            units[v.Name] = $"{o.Plan.Sites.Sum(s => s.Units.Count)} unit(s) at {o.Plan.Sites.Count} site(s), apply={o.Patch.Step.Apply}" +
                            (v.Dynamic ? ", one gate per site" : "");
        }

        var tokenizer = TokenizerLoader.Load(vanillaDir);
        var ids = new List<int>();
        while (ids.Count < promptTokens) ids.AddRange(tokenizer.EncodeToIds(Text, addBos: ids.Count == 0));
        var prompt = ids.Take(promptTokens).ToList();

        var models = variants.Select(v => DecoderModel.Open(v.Dir, settings)).ToList();
        try
        {
            var contenders = new List<Contender>();
            var generated = new Dictionary<string, List<int>>();
            for (var i = 0; i < variants.Length; i++)
            {
                var m = models[i];
                var name = variants[i].Name;
                contenders.Add(new Contender($"prefill {name}", () =>
                {
                    using var cache = m.CreateCache();
                    var clock = Stopwatch.StartNew();
                    m.Step(prompt, cache);
                    return clock.Elapsed.TotalSeconds;
                }));
                contenders.Add(new Contender($"decode {name}", () =>
                {
                    using var cache = m.CreateCache();
                    var logits = m.Step(prompt, cache);
                    var output = new List<int>();
                    var clock = Stopwatch.StartNew();
                    for (var t = 0; t < newTokens; t++)
                    {
                        var next = ArgMax(logits);
                        output.Add(next);
                        logits = m.Step([next], cache);
                    }
                    var s = clock.Elapsed.TotalSeconds / newTokens;
                    generated[name] = output;
                    return s;
                }));
            }
            var times = Rounds.Run(contenders, rounds, warmup: true, log: Console.Error.WriteLine);

            report.Line($"## B3 — steered inference overhead (in-process, {rounds} interleaved rounds, device {settings.Device})");
            report.Line();
            report.Line($"Model `{vanillaDir}`; steered copies from a synthetic k=100 profile (seeded random counts, every site):");
            foreach (var v in variants.Skip(1)) report.Line($"- {v.Name}: {units[v.Name]}");
            report.Line();
            report.Line($"Prefill: one `DecoderModel.Step` over a {promptTokens}-token prompt into an empty KV cache. Decode: after that prefill (untimed),");
            report.Line($"{newTokens} greedy `Step`s of one token each with the KV cache; the figure is seconds per token. All sessions are open at once and");
            report.Line("run round-robin (each round: prefill and decode of every variant, the starting one rotating), after one warm-up round.");
            report.Line();
            report.Line("| variant | prefill median | prefill min–max | decode per token median | decode min–max |");
            report.Line("|---|---|---|---|---|");
            foreach (var v in variants)
            {
                var p = Stat.Of(times[$"prefill {v.Name}"]);
                var d = Stat.Of(times[$"decode {v.Name}"]);
                report.Line($"| {v.Name} | {Md.F(p.Median * 1000, "0.0")} ms | {Md.F(p.Min * 1000, "0.0")}–{Md.F(p.Max * 1000, "0.0")} ms | {Md.F(d.Median * 1000, "0.00")} ms | {Md.F(d.Min * 1000, "0.00")}–{Md.F(d.Max * 1000, "0.00")} ms |");
            }
            report.Line();
            report.Line("| ratio to vanilla (per-round pairs), median (min–max) | prefill | decode per token | target |");
            report.Line("|---|---|---|---|");
            foreach (var v in variants.Skip(1))
            {
                var target = v.Name.StartsWith("Mul k") ? "≤ 1.02" : v.Name.StartsWith("folded") ? "1.00 within noise" : "(reported)";
                report.Line($"| {v.Name} | {Md.Ratio(Stat.Paired(times[$"prefill {v.Name}"], times["prefill vanilla"]))} | {Md.Ratio(Stat.Paired(times[$"decode {v.Name}"], times["decode vanilla"]))} | {target} |");
            }
            report.Line();
            report.Line("DSAS gate cost (issue 16): the gated model against the uniform patch of the same units (per-round pairs), median (min–max):");
            report.Line($"prefill {Md.Ratio(Stat.Paired(times["prefill gated k=100 (dynamic)"], times["prefill Mul k=100"]))}, " +
                        $"decode per token {Md.Ratio(Stat.Paired(times["decode gated k=100 (dynamic)"], times["decode Mul k=100"]))}.");
            report.Line();
        }
        finally
        {
            foreach (var m in models) m.Dispose();
        }
    }

    /// <summary>A copy of the synthetic profile with seeded probes on every site (accuracy 1: every site is gated), for timing.</summary>
    private static string WithProbes(string profilePath)
    {
        var path = Path.ChangeExtension(profilePath, ".probes.json");
        var profile = OnnxSteer.Profiles.SteeringProfile.Load(profilePath);
        var rng = new Random(16);
        profile.Probes = new OnnxSteer.Profiles.ProbeSet
        {
            L2 = 0.01, HeldOutEvery = 5, TrainPairs = 0, HeldOutPairs = 0,
            Sites = profile.Sites.Select(s => new OnnxSteer.Profiles.LayerProbe
            {
                Site = s.Id, Layer = s.Layer, TrainAccuracy = 1, HeldOutAccuracy = 1,
                Weights = Enumerable.Range(0, s.Width).Select(_ => (float)((rng.NextDouble() * 2 - 1) / Math.Sqrt(s.Width))).ToArray(),
            }).ToList(),
        };
        profile.Save(path);
        return path;
    }

    private static int ArgMax(float[] values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}
