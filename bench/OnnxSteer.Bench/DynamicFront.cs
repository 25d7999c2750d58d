using System.Globalization;
using System.Text;
using OnnxSteer.Diffing;
using OnnxSteer.Generation;
using OnnxSteer.Import;
using OnnxSteer.ModelFiles;
using OnnxSteer.Pairs;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Profiling;
using OnnxSteer.Recording;
using OnnxSteer.Sites;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Bench;

/// <summary>
/// The DSAS measurement of issue 16 (docs/dynamic.md): on stories260K, steer toward happy feelings after sad events
/// with AUSteer (k mlp units) uniformly and dynamically (patch --dynamic), sweep alpha, and measure per setting the
/// behaviour rate on held-out sad-event prompts and the damage on held-out neutral text (KL to vanilla on the vanilla
/// model's own greedy continuations). Writes a markdown report, a CSV and an SVG of both fronts.
/// </summary>
public static class DynamicFront
{
    private static readonly string[] TrainNames = ["Lily", "Tom", "Ben", "Sue", "Anna", "Max", "Mia", "Sam", "Lucy", "Tim", "Jack", "Amy"];
    private static readonly (string Happy, string Sad)[] TrainEvents =
    [
        ("got a new puppy", "lost the puppy"), ("won a big prize", "fell and hurt a knee"), ("had a yummy cake", "dropped the cake"),
        ("found a pretty shell", "broke a favourite toy"), ("played in the sun", "got lost in the woods"), ("made a new friend", "had no friends"),
        ("got a red balloon", "saw the balloon pop"), ("went to the park with mom", "could not go to the park"),
    ];
    private static readonly string[] TestNames = ["Kim", "Joe", "Zoe", "Leo", "Rose", "Dan"];
    private static readonly string[] TestSadEvents =
    [
        "lost a red ball", "could not find mom", "got wet in the rain", "had a bad dream", "saw the toy break", "was left alone at home",
    ];
    /// <summary>Happy counterparts of <see cref="TestSadEvents"/>: pairs with names and events the probes never saw.</summary>
    private static readonly string[] TestHappyEvents =
    [
        "found a red ball", "saw mom come home", "played in the rain", "had a good dream", "got a new toy", "had friends at home",
    ];
    private static readonly string[] NeutralPrompts =
    [
        "Once upon a time, there was a little boy named Leo. He loved to play with his",
        "Kim went to the farm. On the farm she saw a",
        "The sun was shining and the birds were singing. A little",
        "Once upon a time, in a small house, there lived a",
        "Sara went to the store with her dad. Outside the store there was a",
        "Tim had a big red ball. He threw the ball and his",
        "Mom said, \"Let's go to the park.\" At the park, the kids played with a",
        "There was a big tree in the yard. Under the tree slept a",
        "One night, the stars were bright. A small",
        "The children ran to the lake. Near the water they found a",
        "Max woke up early and went outside. In the grass he saw a",
        "Once upon a time there was a little",
    ];
    private static readonly string[] HappyWords = ["happy", "glad", "smile", "smiled", "laugh", "laughed", "excited", "proud", "joy", "fun"];
    private static readonly string[] SadWords = ["sad", "cried", "cry", "scared", "upset", "angry", "mad", "hurt"];
    private static readonly double[] Alphas = [0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12];
    private const int K = 16;
    private const int NewTokens = 16;
    private const int NeutralTokens = 32;

    /// <summary>One point of a front.</summary>
    private sealed record Point(string Mode, double Alpha, int Sites, double HappyRate, double SadRate, double Kl, double DeltaLogLik, double GateSad, double GateNeutral);

    public static void Run(string work, string outDir)
    {
        Directory.CreateDirectory(work);
        Directory.CreateDirectory(outDir);
        var model = Path.Combine(work, "model");
        if (!File.Exists(Path.Combine(model, "model.onnx")))
            Llama2cImporter.Import("../shared/models/stories260K/stories260K.bin", "../shared/models/stories260K/tok512.bin", model, ExportStyle.Genai, ExportDType.Fp32);
        var tokenizer = TokenizerLoader.Load(model);
        var pairs = new PairSet(TrainNames.SelectMany(n => TrainEvents.Select(e =>
            new ContrastivePair($"One day, {n}", $" {e.Happy}. {n} felt", $" {e.Sad}. {n} felt", $"{n}/{e.Happy}"))).ToList(), 0, "mood pairs", []);
        var profilePath = Path.Combine(work, "profile.json");
        var profile = ProfileRunner.Run(new ProfileRequest { ModelPath = model, Pairs = pairs, Settings = new ProfileSettings { Sites = [SiteKind.Mlp], K = K, Alpha = 1, Probes = true } });
        profile.Save(profilePath);
        var l2Table = L2Sweep(model, pairs);

        var behaviour = TestNames.SelectMany(n => TestSadEvents.Select(e => tokenizer.EncodeToIds($"One day, {n} {e}. {n} felt"))).ToList();
        var neutral = new List<IReadOnlyList<int>>();
        int[] neutralStart;
        using (var vanilla = DecoderModel.Open(model))
        {
            var g = new Generator(vanilla);
            var starts = new List<int>();
            foreach (var p in NeutralPrompts)
            {
                var ids = tokenizer.EncodeToIds(p);
                var r = g.Generate(ids, new GenerationOptions { MaxNewTokens = NeutralTokens });
                neutral.Add(ids.Concat(r.GeneratedIds).ToList());
                starts.Add(ids.Count);
            }
            neutralStart = starts.ToArray();
        }
        var vanillaLogits = neutral.Select(ids => Forward(model, ids)).ToList();

        var points = new List<Point> { Evaluate("vanilla", 0, 0, model, null, behaviour, tokenizer, neutral, neutralStart, vanillaLogits) };
        foreach (var dynamic in new[] { false, true })
            foreach (var alpha in Alphas)
            {
                var dir = Path.Combine(work, $"{(dynamic ? "dynamic" : "uniform")}-{alpha.ToString(CultureInfo.InvariantCulture)}");
                if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
                var outcome = ModelPatcher.Patch(new PatchJob(model, profilePath, dir, new PlanRequest(Alpha: alpha), new PatchOptions(Dynamic: dynamic)));
                points.Add(Evaluate(dynamic ? "dynamic" : "uniform", alpha, outcome.Plan.Sites.Count, outcome.Written.ModelFile,
                    dynamic ? outcome.Written.ModelFile : null, behaviour, tokenizer, neutral, neutralStart, vanillaLogits));
                Console.Error.WriteLine($"dsas: {points[^1]}");
            }

        // Where do the gates open? Mean last-token gate (over the steered sites) on both answers of the training pairs and
        // of pairs with new names and events, read from the alpha 2 dynamic model.
        var gatedModel = Path.Combine(work, "dynamic-2", "model.onnx");
        double LastGate(string text) => GateTrace.Run(gatedModel, tokenizer.EncodeToIds(text)).Gates.Average(g => g[^1]);
        var freshPairs = TestNames.SelectMany(n => TestHappyEvents.Zip(TestSadEvents).Select(e => (Pos: $"One day, {n} {e.First}. {n} felt", Neg: $"One day, {n} {e.Second}. {n} felt"))).ToList();
        var gateCheck = string.Create(CultureInfo.InvariantCulture,
            $"| training pairs | {pairs.Pairs.Average(p => LastGate(p.NegativeText)):0.000} | {pairs.Pairs.Average(p => LastGate(p.PositiveText)):0.000} |\n" +
            $"| new names+events | {freshPairs.Average(p => LastGate(p.Neg)):0.000} | {freshPairs.Average(p => LastGate(p.Pos)):0.000} |\n");

        File.WriteAllText(Path.Combine(outDir, "dynamic-front.csv"),
            "mode,alpha,sites,happy_rate,sad_rate,kl,delta_loglik,gate_sad,gate_neutral\n" +
            string.Concat(points.Select(p => string.Create(CultureInfo.InvariantCulture,
                $"{p.Mode},{p.Alpha},{p.Sites},{p.HappyRate:0.####},{p.SadRate:0.####},{p.Kl:0.######},{p.DeltaLogLik:0.######},{p.GateSad:0.####},{p.GateNeutral:0.####}\n"))));
        File.WriteAllText(Path.Combine(outDir, "dynamic-front.svg"), Svg(points));
        File.WriteAllText(Path.Combine(outDir, "dynamic-front.md"), Markdown(points, profile, l2Table, behaviour.Count) +
            "\nMean last-token gate of the alpha 2 dynamic model (average over its steered sites):\n\n| texts | sad answer (negative) | happy answer (positive) |\n|---|---|---|\n" + gateCheck);
    }

    /// <summary>Held-out accuracy of the probes per site for several L2 penalties, from the same recorded rows.</summary>
    private static string L2Sweep(string model, PairSet pairs)
    {
        var onnx = OnnxModel.Load(model);
        var sites = SiteFinder.Find(onnx).Sites.OrderBy(s => s.Kind).ThenBy(s => s.Layer).ToList();
        var encoder = new SequenceEncoder(TokenizerLoader.Load(model), 256);
        var pos = new List<float[][]>();
        var neg = new List<float[][]>();
        using (var recorder = new ActivationRecorder(onnx, sites))
            foreach (var chunk in pairs.Pairs.Chunk(4))
            {
                var encoded = chunk.Select(encoder.Encode).ToList();
                var rows = recorder.Record(encoded.SelectMany(p => new[] { p.Positive, p.Negative }).ToList());
                for (var i = 0; i < encoded.Count; i++) { pos.Add(rows[2 * i]); neg.Add(rows[2 * i + 1]); }
            }
        // Pairs of new names and events: does the probe read the mood, or the training names and events?
        var fresh = TestNames.SelectMany(n => TestHappyEvents.Zip(TestSadEvents).Select(e =>
            new ContrastivePair($"One day, {n}", $" {e.First}. {n} felt", $" {e.Second}. {n} felt", n))).ToList();
        var freshX = new List<float[]>[sites.Count];
        for (var s = 0; s < sites.Count; s++) freshX[s] = [];
        var freshY = new List<int>();
        using (var recorder = new ActivationRecorder(onnx, sites))
            foreach (var chunk in fresh.Chunk(4))
            {
                var encoded = chunk.Select(encoder.Encode).ToList();
                var rows = recorder.Record(encoded.SelectMany(p => new[] { p.Positive, p.Negative }).ToList());
                for (var r = 0; r < rows.Length; r++)
                {
                    for (var s = 0; s < sites.Count; s++) freshX[s].Add(rows[r][s]);
                    freshY.Add(r % 2);
                }
            }
        double Fresh(LayerProbe p, int s) =>
            ProbeFitter.Accuracy(p.Weights.Select(w => (double)w).ToArray(), p.Bias, freshX[s].ToArray(), freshY.ToArray());

        var penalties = new[] { 0.001, 0.01, 0.1, 1.0 };
        var fits = penalties.Select(l2 => ProbeFitter.Fit(sites.Select(ProfileSite.From).ToList(), pos, neg, l2)).ToList();
        string A(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
        var sb = new StringBuilder("| site | " + string.Join(" | ", penalties.Select(p => $"l2 {p.ToString(CultureInfo.InvariantCulture)}: held-out pairs / new names+events")) +
                                   " |\n|---|" + string.Concat(penalties.Select(_ => "---|")) + "\n");
        for (var s = 0; s < sites.Count; s++)
            sb.Append($"| {sites[s].Id} | " + string.Join(" | ", fits.Select(f => $"{A(f.Sites[s].HeldOutAccuracy)} / {A(Fresh(f.Sites[s], s))}")) + " |\n");
        sb.Append("| mean | " + string.Join(" | ", fits.Select(f => $"{A(f.Sites.Average(p => p.HeldOutAccuracy))} / {A(f.Sites.Select((p, s) => Fresh(p, s)).Average())}")) + " |\n");
        sb.Append($"\n(new names+events: {fresh.Count} pairs, {TestNames.Length} names × {TestSadEvents.Length} events, none in the training pairs)\n");
        return sb.ToString();
    }

    private static float[] Forward(string model, IReadOnlyList<int> ids)
    {
        using var m = DecoderModel.Open(model);
        return m.Forward(ids).Data;
    }

    private static Point Evaluate(string mode, double alpha, int sites, string model, string? gated, List<IReadOnlyList<int>> behaviour,
        ITokenizer tokenizer, List<IReadOnlyList<int>> neutral, int[] neutralStart, List<float[]> vanillaLogits)
    {
        int happy = 0, sad = 0;
        using (var m = DecoderModel.Open(model))
        {
            var g = new Generator(m);
            foreach (var ids in behaviour)
            {
                var text = tokenizer.Decode(g.Generate(ids, new GenerationOptions { MaxNewTokens = NewTokens }).GeneratedIds).ToLowerInvariant();
                var words = text.Split([' ', '.', ',', '!', '"', '\n', '?'], StringSplitOptions.RemoveEmptyEntries);
                if (words.Any(w => HappyWords.Contains(w))) happy++;
                if (words.Any(w => SadWords.Contains(w))) sad++;
            }
        }
        double kl = 0, dll = 0;
        var count = 0;
        for (var i = 0; i < neutral.Count; i++)
        {
            var ids = neutral[i];
            var steered = Forward(model, ids);
            var vocab = steered.Length / ids.Count;
            // Position t predicts token t+1: score the continuation tokens only.
            for (var t = neutralStart[i] - 1; t < ids.Count - 1; t++)
            {
                var p = LogSoftmax(vanillaLogits[i].AsSpan(t * vocab, vocab));
                var q = LogSoftmax(steered.AsSpan(t * vocab, vocab));
                for (var v = 0; v < vocab; v++) kl += Math.Exp(p[v]) * (p[v] - q[v]);
                dll += q[ids[t + 1]] - p[ids[t + 1]];
                count++;
            }
        }
        double gateSad = double.NaN, gateNeutral = double.NaN;
        if (gated is not null)
        {
            gateSad = behaviour.Average(ids => GateTrace.Run(gated, ids).Gates.Average(g => g[^1]));
            gateNeutral = neutral.Select((ids, i) => GateTrace.Run(gated, ids).Gates.Average(g => g.Skip(neutralStart[i]).Average())).Average();
        }
        return new Point(mode, alpha, sites, (double)happy / behaviour.Count, (double)sad / behaviour.Count, kl / count, dll / count, gateSad, gateNeutral);
    }

    private static double[] LogSoftmax(ReadOnlySpan<float> logits)
    {
        var max = double.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        var sum = 0.0;
        foreach (var x in logits) sum += Math.Exp(x - max);
        var log = Math.Log(sum) + max;
        var result = new double[logits.Length];
        for (var i = 0; i < logits.Length; i++) result[i] = logits[i] - log;
        return result;
    }

    private static string Markdown(List<Point> points, SteeringProfile profile, string l2Table, int behaviourPrompts)
    {
        string F(double v, string f = "0.000") => double.IsNaN(v) ? "–" : v.ToString(f, CultureInfo.InvariantCulture);
        var sb = new StringBuilder();
        sb.Append($"Behaviour: {behaviourPrompts} held-out sad-event prompts, greedy {NewTokens} tokens; happy rate = share of continuations with a happy word ");
        sb.Append($"({string.Join(", ", HappyWords)}), sad rate likewise ({string.Join(", ", SadWords)}). Damage: mean per-token KL(vanilla ‖ steered) and mean ");
        sb.Append($"Δ log-likelihood over the vanilla model's own greedy {NeutralTokens}-token continuations of {NeutralPrompts.Length} neutral prompts. AUSteer k={K} mlp units.\n\n");
        sb.Append("| mode | alpha | sites | happy rate | sad rate | KL to vanilla | Δ log-lik/token | mean gate, sad prompts (last token) | mean gate, neutral text |\n|---|---|---|---|---|---|---|---|---|\n");
        foreach (var p in points)
            sb.Append($"| {p.Mode} | {F(p.Alpha, "0.#")} | {p.Sites} | {F(p.HappyRate, "0.00")} | {F(p.SadRate, "0.00")} | {F(p.Kl, "0.0000")} | {F(p.DeltaLogLik, "0.0000")} | {F(p.GateSad)} | {F(p.GateNeutral)} |\n");
        sb.Append("\nProbe held-out accuracy per site (the profile's probes, l2 " + profile.Probes!.L2.ToString(CultureInfo.InvariantCulture) +
                  $", {profile.Probes.TrainPairs} training / {profile.Probes.HeldOutPairs} held-out pairs), and for other penalties:\n\n");
        sb.Append(l2Table);
        return sb.ToString();
    }

    /// <summary>Redraws the SVG from a CSV written by <see cref="Run"/> (bench dsas-plot CSV SVG).</summary>
    public static void Plot(string csv, string svg)
    {
        var points = File.ReadAllLines(csv).Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',')).Select(f =>
        {
            double D(int i) => double.Parse(f[i], CultureInfo.InvariantCulture);
            return new Point(f[0], D(1), int.Parse(f[2], CultureInfo.InvariantCulture), D(3), D(4), D(5), D(6), D(7), D(8));
        }).ToList();
        File.WriteAllText(svg, Svg(points));
    }

    /// <summary>Happy rate against KL to vanilla (log axis; vanilla, at KL 0, is the dashed line), one polyline per mode.</summary>
    private static string Svg(List<Point> points)
    {
        const double W = 680, H = 460, L = 70, R = 20, T = 40, B = 70;
        const double MinKl = 0.002, MaxKl = 6;
        double X(double kl) => L + (Math.Log10(Math.Max(kl, MinKl)) - Math.Log10(MinKl)) / (Math.Log10(MaxKl) - Math.Log10(MinKl)) * (W - L - R);
        double Y(double rate) => H - B - rate * (H - T - B);
        string N(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
        var sb = new StringBuilder();
        sb.Append($"<svg xmlns='http://www.w3.org/2000/svg' width='{W}' height='{H}' font-family='sans-serif' font-size='12'>");
        sb.Append($"<rect width='{W}' height='{H}' fill='white'/>");
        sb.Append($"<text x='{W / 2}' y='22' text-anchor='middle' font-size='14'>stories260K, happy after sad events: uniform vs dynamic (DSAS) AUSteer, k={K} mlp</text>");
        sb.Append($"<line x1='{L}' y1='{H - B}' x2='{W - R}' y2='{H - B}' stroke='black'/><line x1='{L}' y1='{T}' x2='{L}' y2='{H - B}' stroke='black'/>");
        foreach (var kl in new[] { 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3 })
            sb.Append($"<line x1='{N(X(kl))}' y1='{H - B}' x2='{N(X(kl))}' y2='{H - B + 5}' stroke='black'/><line x1='{N(X(kl))}' y1='{T}' x2='{N(X(kl))}' y2='{H - B}' stroke='#eee'/>" +
                      $"<text x='{N(X(kl))}' y='{H - B + 18}' text-anchor='middle'>{kl.ToString("0.###", CultureInfo.InvariantCulture)}</text>");
        for (var i = 0; i <= 5; i++)
        {
            var rate = i / 5.0;
            sb.Append($"<line x1='{L - 5}' y1='{N(Y(rate))}' x2='{L}' y2='{N(Y(rate))}' stroke='black'/><text x='{L - 8}' y='{N(Y(rate) + 4)}' text-anchor='end'>{rate:0.0}</text>");
            sb.Append($"<line x1='{L}' y1='{N(Y(rate))}' x2='{W - R}' y2='{N(Y(rate))}' stroke='#ddd'/>");
        }
        sb.Append($"<text x='{(L + W - R) / 2}' y='{H - 38}' text-anchor='middle'>damage: mean KL(vanilla ‖ steered) per token on neutral text (log scale)</text>");
        sb.Append($"<text x='{(L + W - R) / 2}' y='{H - 18}' text-anchor='middle' font-size='11'>labels: alpha; 36 behaviour prompts (binomial s.e. ≈ 0.06 near 0.8)</text>");
        sb.Append($"<text transform='translate(20,{(T + H - B) / 2}) rotate(-90)' text-anchor='middle'>happy rate on held-out sad-event prompts</text>");
        var vanilla = points.First(p => p.Mode == "vanilla");
        sb.Append($"<line x1='{L}' y1='{N(Y(vanilla.HappyRate))}' x2='{W - R}' y2='{N(Y(vanilla.HappyRate))}' stroke='#777' stroke-dasharray='5,4'/>");
        foreach (var (mode, color, dy) in new[] { ("uniform", "#d62728", 14.0), ("dynamic", "#1f77b4", -6.0) })
        {
            var series = points.Where(p => p.Mode == mode).OrderBy(p => p.Alpha).ToList();
            sb.Append($"<polyline fill='none' stroke='{color}' stroke-width='2' points='{string.Join(" ", series.Select(p => $"{N(X(p.Kl))},{N(Y(p.HappyRate))}"))}'/>");
            foreach (var p in series)
                sb.Append($"<circle cx='{N(X(p.Kl))}' cy='{N(Y(p.HappyRate))}' r='3.5' fill='{color}'/><text x='{N(X(p.Kl) + 4)}' y='{N(Y(p.HappyRate) + dy)}' fill='{color}' font-size='10'>{N(p.Alpha)}</text>");
        }
        sb.Append($"<rect x='{W - R - 170}' y='{T + 8}' width='160' height='62' fill='white' stroke='#999'/>");
        sb.Append($"<line x1='{W - R - 160}' y1='{T + 22}' x2='{W - R - 135}' y2='{T + 22}' stroke='#d62728' stroke-width='2'/><text x='{W - R - 128}' y='{T + 26}'>uniform</text>");
        sb.Append($"<line x1='{W - R - 160}' y1='{T + 40}' x2='{W - R - 135}' y2='{T + 40}' stroke='#1f77b4' stroke-width='2'/><text x='{W - R - 128}' y='{T + 44}'>dynamic (--dynamic)</text>");
        sb.Append($"<line x1='{W - R - 160}' y1='{T + 58}' x2='{W - R - 135}' y2='{T + 58}' stroke='#777' stroke-dasharray='5,4'/><text x='{W - R - 128}' y='{T + 62}'>vanilla (KL 0)</text>");
        sb.Append("</svg>");
        return sb.ToString();
    }
}
