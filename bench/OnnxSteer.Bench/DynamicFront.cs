using System.Globalization;
using System.Text;
using System.Text.Json;
using OnnxSteer.Diffing;
using OnnxSteer.Generation;
using OnnxSteer.Import;
using OnnxSteer.Imaging;
using OnnxSteer.ModelFiles;
using OnnxSteer.Pairs;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.ProfileRuns;
using OnnxSteer.Recording;
using OnnxSteer.Sites;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Bench;

/// <summary>
/// The DSAS measurement of issue 31 (docs/dynamic.md): on stories260K, steer toward happy feelings after sad events with
/// AUSteer (k mlp units) uniformly and gated by probes of several recipes (the older pairs/last-token probes, the same
/// pairs on token means, and the paper's undesired-vs-neutral token-mean probes, with and without PCA), sweep alpha,
/// and measure per setting the behaviour rate on held-out prompts with new names and events (Wilson 95% intervals) and
/// the cost on held-out neutral stories (KL to vanilla and perplexity, bootstrap 95% intervals over stories). Writes a
/// markdown report, a CSV and PNG charts.
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
    /// <summary>The neutral control set of the paper's recipe: the training names with events that carry no feeling.</summary>
    private static readonly string[] TrainNeutralEvents =
    [
        "went to the shop with dad", "saw a big tree", "walked to school", "looked at the clouds", "ate lunch at home",
        "drew a picture of a cat", "read a book about boats", "put on a blue coat",
    ];
    private static readonly string[] TestNames = ["Kim", "Joe", "Zoe", "Leo", "Rose", "Dan", "Ella", "Finn", "Jill", "Ned", "Pam", "Ray", "Tara", "Will", "Nora"];
    private static readonly (string Sad, string Happy)[] TestEvents =
    [
        ("lost a red ball", "found a red ball"), ("could not find mom", "saw mom come home"), ("got wet in the rain", "played in the rain"),
        ("had a bad dream", "had a good dream"), ("saw the toy break", "got a new toy"), ("was left alone at home", "had friends at home"),
        ("spilled the milk", "got a glass of milk"), ("missed the bus", "rode the big bus"), ("cut a finger", "baked a cake"),
        ("lost the kite in a tree", "flew a kite"), ("broke the blue cup", "got a blue cup"), ("saw the fish die", "saw a big fish"),
        ("could not find the cat", "found the cat"), ("tore the new coat", "got a new coat"),
    ];
    /// <summary>Held-out neutral stories, written for this measurement (no name or event of the probe texts).</summary>
    private static readonly string[] Stories =
    [
        "Once upon a time, there was a little boy named Leo. He liked to build towers with blocks. Every day he made a tower taller than the one before.",
        "Kim went to the farm with her grandpa. On the farm there were cows, pigs and a big brown horse. Grandpa showed her how to feed the hens.",
        "The sun was shining and the birds were singing. A little frog sat on a leaf in the pond. It looked at the water and waited for a fly.",
        "Once upon a time, in a small house, there lived an old man and his dog. Every morning they walked to the river and back.",
        "Sara went to the store with her dad. They bought bread, apples and milk. Then they walked home and put the food on the table.",
        "There was a big tree in the yard. Under the tree there was a small bench. In the summer, the family sat there and ate lunch.",
        "One night, the stars were bright. A small owl flew over the hill. It looked down at the fields and the houses with their lights.",
        "The children ran to the lake. Near the water they found smooth stones. They put the stones in a line on the sand.",
        "Max woke up early and went outside. The grass was wet and the air was cool. He put on his boots and walked to the gate.",
        "Once upon a time there was a little train. The train went up the hill and down the hill every day. It carried boxes to the town.",
        "Ella had a box of crayons. She drew a house, a tree and a sun. Then she drew a road that went from the house to the hills.",
        "A cat sat on the wall and watched the street. A car went by, then a bike. The cat yawned and closed its eyes.",
        "Finn and his mom made soup. They cut carrots, beans and potatoes. The soup cooked for a long time in the big pot.",
        "The little boat sailed on the sea. The wind pushed the sail and the boat went fast. At night it came back to the shore.",
        "Nora liked to count things. She counted the steps to her room, the spoons in the drawer and the windows of the house.",
        "In the forest there was a small path. The path went past a stream and a big rock. At the end of the path was a little hut.",
        "Ray put his toys in a big box. There were cars, a ball and a wooden duck. He closed the box and put it under the bed.",
        "The baker made bread every morning. He mixed flour and water and put the dough in the oven. Soon the shop smelled of bread.",
        "Pam looked out of the window. It was snowing and the road was white. A man with a red hat walked past with his dog.",
        "The bus stopped at the corner. Three children got on and sat at the back. The bus drove past the school and the park.",
        "Once upon a time, a rabbit lived in a hole under a hill. Each day it went out to eat grass and came back before dark.",
        "Will had a garden with tall sunflowers. He gave them water every evening. The flowers grew taller than the fence.",
        "The clock on the wall said it was time for bed. Tara brushed her teeth and put on her pajamas. Then she turned off the light.",
        "A big ship came into the harbor. Men carried boxes and bags off the ship. Gulls flew above the water and called to each other.",
        "Ned and his sister walked to the library. They sat at a long table and looked at books about animals and stars.",
        "The farmer drove his tractor across the field. Behind the tractor the earth was brown and soft. Birds followed to look for worms.",
        "Jill had a small fish tank. In the tank there were two orange fish and a green plant. She fed the fish every morning.",
        "The wind blew the leaves off the trees. The leaves were red, yellow and brown. They made a soft carpet on the path.",
        "Dan built a sandcastle on the beach. It had four towers and a wall around it. The sea came closer as the day went on.",
        "Rose and her dad went to the zoo. They saw a tall giraffe, a sleepy lion and a monkey that swung from a rope.",
        "There was a small village by the river. In the village there was a mill with a big wheel that turned in the water.",
        "Joe took his bike to the park. He rode around the pond two times. Then he stopped to look at the ducks on the water.",
    ];
    private static readonly string[] HappyWords = ["happy", "glad", "smile", "smiled", "laugh", "laughed", "excited", "proud", "joy", "fun"];
    private static readonly string[] SadWords = ["sad", "cried", "cry", "scared", "upset", "angry", "mad", "hurt"];
    private static readonly double[] Alphas = [0.5, 1, 1.5, 2, 3, 4, 6];
    private const int K = 16;
    private const int NewTokens = 16;
    private const double GateAlpha = 2;

    /// <summary>A way of steering: uniform (no probes) or gated by probes fitted with <see cref="Probes"/>.</summary>
    private sealed record Mode(string Name, string Description, ProfileSettings? Probes);

    private static readonly Mode[] Modes =
    [
        new("uniform", "uniform (no gate)", null),
        new("pairs-last", "gate: pairs, last token (old)", new ProfileSettings { ProbePooling = ProbePooling.LastToken }),
        new("pairs-mean", "gate: pairs, token mean", new ProfileSettings { ProbePooling = ProbePooling.Mean }),
        new("neutral-mean", "gate: neutral set, token mean (DSAS)", new ProfileSettings { ProbePooling = ProbePooling.Mean, ProbeNeutral = "" }),
        new("neutral-mean-pca4", "gate: neutral set, mean, PCA 4", new ProfileSettings { ProbePooling = ProbePooling.Mean, ProbeNeutral = "", ProbePca = 4 }),
        new("neutral-mean-pca16", "gate: neutral set, mean, PCA 16", new ProfileSettings { ProbePooling = ProbePooling.Mean, ProbeNeutral = "", ProbePca = 16 }),
    ];

    /// <summary>One setting's measurement, with intervals.</summary>
    private sealed record Point(string Mode, double Alpha, int Sites, int Happy, int Sad, int Prompts, Interval Kl, Interval Perplexity, double GateSad, double GateNeutral)
    {
        public double HappyRate => (double)Happy / Prompts;
    }

    private readonly record struct Interval(double Value, double Low, double High);

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
        var neutralFile = Path.Combine(work, "neutral.jsonl");
        File.WriteAllLines(neutralFile, TrainNames.SelectMany(n => TrainNeutralEvents.Select(e => JsonSerializer.Serialize(new { text = $"One day, {n} {e}. {n} felt" }))));

        // One profile per probe recipe: the counts and units are the same pairs', so every mode steers the same units.
        var profiles = new Dictionary<string, string>();
        foreach (var mode in Modes.Where(m => m.Probes is not null))
        {
            var path = Path.Combine(work, $"profile-{mode.Name}.json");
            var settings = mode.Probes! with { Sites = [SiteKind.Mlp], K = K, Alpha = 1, Probes = true, ProbeNeutral = mode.Probes.ProbeNeutral is null ? null : neutralFile };
            ProfileRunner.Run(new ProfileRequest { ModelPath = model, Pairs = pairs, Settings = settings }).Save(path);
            profiles[mode.Name] = path;
        }
        profiles["uniform"] = profiles["pairs-last"];

        var sadPrompts = TestNames.SelectMany(n => TestEvents.Select(e => tokenizer.EncodeToIds($"One day, {n} {e.Sad}. {n} felt", addBos: true))).ToList();
        var happyPrompts = TestNames.SelectMany(n => TestEvents.Select(e => tokenizer.EncodeToIds($"One day, {n} {e.Happy}. {n} felt", addBos: true))).ToList();
        var stories = Stories.Select(s => tokenizer.EncodeToIds(s, addBos: true)).ToList();
        var vanillaLogits = Logits(model, stories);

        var points = new List<Point> { Evaluate("vanilla", 0, 0, model, false, sadPrompts, stories, vanillaLogits, tokenizer) };
        foreach (var mode in Modes)
            foreach (var alpha in Alphas)
            {
                var dir = Path.Combine(work, $"{mode.Name}-{alpha.ToString(CultureInfo.InvariantCulture)}");
                if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
                PatchOutcome outcome;
                try { outcome = Steerer.Patch(model, profiles[mode.Name], dir, new PatchSettings { Alpha = alpha, Dynamic = mode.Probes is not null }); }
                catch (InvalidProfileException e) when (e.Message.Contains("no steered site has a probe"))
                {
                    // The threshold leaves nothing to steer: the recipe is reported as such (probe table), not plotted.
                    Console.Error.WriteLine($"dsas: {mode.Name}: {e.Message}");
                    break;
                }
                points.Add(Evaluate(mode.Name, alpha, outcome.Plan.Sites.Count, outcome.Written.ModelFile, mode.Probes is not null, sadPrompts, stories, vanillaLogits, tokenizer));
                Console.Error.WriteLine($"dsas: {points[^1]}");
            }

        var gateTable = GateTable(work, sadPrompts, happyPrompts, stories);
        var probeTable = ProbeTable(model, profiles, tokenizer, sadPrompts, happyPrompts, stories);
        File.WriteAllText(Path.Combine(outDir, "dynamic-front.csv"),
            "mode,alpha,sites,happy,sad,prompts,kl,kl_low,kl_high,perplexity,perplexity_low,perplexity_high,gate_sad_last,gate_neutral\n" +
            string.Concat(points.Select(p => string.Create(CultureInfo.InvariantCulture,
                $"{p.Mode},{p.Alpha},{p.Sites},{p.Happy},{p.Sad},{p.Prompts},{p.Kl.Value:0.######},{p.Kl.Low:0.######},{p.Kl.High:0.######},{p.Perplexity.Value:0.####},{p.Perplexity.Low:0.####},{p.Perplexity.High:0.####},{p.GateSad:0.####},{p.GateNeutral:0.####}\n"))));
        Charts(points, outDir);
        File.WriteAllText(Path.Combine(outDir, "dynamic-front.md"), Markdown(points, sadPrompts.Count) + "\n" + Budgets(points) + "\n" + probeTable + "\n" + gateTable);
    }

    /// <summary>Redraws the PNG charts from a CSV written by <see cref="Run"/> (bench dsas-plot CSV OUT_DIR).</summary>
    public static void Plot(string csv, string outDir) => Charts(ReadCsv(csv), outDir);

    private static List<Point> ReadCsv(string csv) => File.ReadAllLines(csv).Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',')).Select(f =>
    {
        double D(int i) => double.Parse(f[i], CultureInfo.InvariantCulture);
        int I(int i) => int.Parse(f[i], CultureInfo.InvariantCulture);
        return new Point(f[0], D(1), I(2), I(3), I(4), I(5), new(D(6), D(7), D(8)), new(D(9), D(10), D(11)), D(12), D(13));
    }).ToList();

    private static List<float[]> Logits(string model, List<IReadOnlyList<int>> texts)
    {
        using var m = DecoderModel.Open(model);
        return texts.Select(ids => m.Forward(ids).Data).ToList();
    }

    private static Point Evaluate(string mode, double alpha, int sites, string model, bool gated, List<IReadOnlyList<int>> prompts,
        List<IReadOnlyList<int>> stories, List<float[]> vanillaLogits, ITokenizer tokenizer)
    {
        int happy = 0, sad = 0;
        using (var m = DecoderModel.Open(model))
        {
            var g = new Generator(m);
            foreach (var ids in prompts)
            {
                var text = tokenizer.Decode(g.Generate(ids, new SamplingSettings { MaxTokens = NewTokens }).GeneratedIds).ToLowerInvariant();
                var words = text.Split([' ', '.', ',', '!', '"', '\n', '?'], StringSplitOptions.RemoveEmptyEntries);
                if (words.Any(w => HappyWords.Contains(w))) happy++;
                if (words.Any(w => SadWords.Contains(w))) sad++;
            }
        }
        // Per story: the summed KL(vanilla ‖ steered) and negative log-likelihood of the story's own tokens, and the count.
        var steered = Logits(model, stories);
        var perStory = new List<(double Kl, double Nll, int Count)>();
        for (var i = 0; i < stories.Count; i++)
        {
            var ids = stories[i];
            var vocab = steered[i].Length / ids.Count;
            double kl = 0, nll = 0;
            for (var t = 0; t < ids.Count - 1; t++)
            {
                var p = LogSoftmax(vanillaLogits[i].AsSpan(t * vocab, vocab));
                var q = LogSoftmax(steered[i].AsSpan(t * vocab, vocab));
                for (var v = 0; v < vocab; v++) kl += Math.Exp(p[v]) * (p[v] - q[v]);
                nll -= q[ids[t + 1]];
            }
            perStory.Add((kl, nll, ids.Count - 1));
        }
        var klInterval = Bootstrap(perStory, s => s.Sum(x => x.Kl) / s.Sum(x => x.Count));
        var pplInterval = Bootstrap(perStory, s => Math.Exp(s.Sum(x => x.Nll) / s.Sum(x => x.Count)));
        double gateSad = double.NaN, gateNeutral = double.NaN;
        if (gated)
        {
            gateSad = GateTrace.RunEach(model, prompts).Average(t => t.Gates.Average(g => g[^1]));
            gateNeutral = GateTrace.RunEach(model, stories).Average(t => t.Gates.Average(g => g.Average()));
        }
        return new Point(mode, alpha, sites, happy, sad, prompts.Count, klInterval, pplInterval, gateSad, gateNeutral);
    }

    /// <summary>The statistic on all items, and its 2.5% and 97.5% percentiles over 2000 seeded resamples of the items.</summary>
    private static Interval Bootstrap<T>(List<T> items, Func<IReadOnlyList<T>, double> statistic)
    {
        var rng = new Random(31);
        var values = new double[2000];
        var sample = new T[items.Count];
        for (var b = 0; b < values.Length; b++)
        {
            for (var i = 0; i < sample.Length; i++) sample[i] = items[rng.Next(items.Count)];
            values[b] = statistic(sample);
        }
        Array.Sort(values);
        return new(statistic(items), values[(int)(0.025 * values.Length)], values[(int)(0.975 * values.Length) - 1]);
    }

    /// <summary>Wilson score 95% interval of <paramref name="k"/> successes in <paramref name="n"/>.</summary>
    private static (double Low, double High) Wilson(int k, int n)
    {
        const double z = 1.959964;
        var p = (double)k / n;
        var centre = (p + z * z / (2 * n)) / (1 + z * z / n);
        var half = z * Math.Sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) / (1 + z * z / n);
        return (centre - half, centre + half);
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

    private static string F(double v, string f = "0.000") => double.IsNaN(v) ? "–" : v.ToString(f, CultureInfo.InvariantCulture);

    private static string Markdown(List<Point> points, int prompts)
    {
        var sb = new StringBuilder();
        sb.Append($"Behaviour: {prompts} held-out prompts ({TestNames.Length} new names × {TestEvents.Length} new sad events), greedy {NewTokens} tokens; happy rate = share of continuations with a happy word ");
        sb.Append($"({string.Join(", ", HappyWords)}), Wilson 95% interval; sad rate likewise ({string.Join(", ", SadWords)}). Cost on {Stories.Length} held-out neutral stories: ");
        sb.Append("mean per-token KL(vanilla ‖ steered) and perplexity of the stories' own tokens, 95% bootstrap intervals over stories. ");
        sb.Append($"AUSteer k={K} mlp units; gates: mean last-token gate on the sad prompts, mean gate over the stories' tokens.\n\n");
        sb.Append("| mode | alpha | sites | happy rate [95% CI] | sad rate | KL to vanilla [95% CI] | perplexity [95% CI] | gate, sad prompts (last token) | gate, neutral stories |\n|---|---|---|---|---|---|---|---|---|\n");
        foreach (var p in points)
        {
            var (lo, hi) = Wilson(p.Happy, p.Prompts);
            sb.Append($"| {p.Mode} | {F(p.Alpha, "0.#")} | {p.Sites} | {F(p.HappyRate, "0.00")} [{F(lo, "0.00")}, {F(hi, "0.00")}] | {F((double)p.Sad / p.Prompts, "0.00")} | " +
                      $"{F(p.Kl.Value, "0.0000")} [{F(p.Kl.Low, "0.0000")}, {F(p.Kl.High, "0.0000")}] | {F(p.Perplexity.Value, "0.00")} [{F(p.Perplexity.Low, "0.00")}, {F(p.Perplexity.High, "0.00")}] | {F(p.GateSad)} | {F(p.GateNeutral)} |\n");
        }
        return sb.ToString();
    }

    /// <summary>Per mode, the best happy rate among its settings whose KL stays within each budget.</summary>
    private static string Budgets(List<Point> points)
    {
        double[] budgets = [0.01, 0.02, 0.05, 0.1, 0.2];
        var sb = new StringBuilder("Best happy rate within a KL budget (the alpha that reaches it in brackets; Wilson 95% interval):\n\n| mode | " +
                                   string.Join(" | ", budgets.Select(b => $"KL ≤ {F(b, "0.###")}")) + " |\n|---|" + string.Concat(budgets.Select(_ => "---|")) + "\n");
        foreach (var mode in Modes)
        {
            sb.Append($"| {mode.Name} |");
            foreach (var budget in budgets)
            {
                var best = points.Where(p => (p.Mode == mode.Name || p.Mode == "vanilla") && p.Kl.Value <= budget).MaxBy(p => p.HappyRate);
                if (best is null) { sb.Append(" – |"); continue; }
                var (lo, hi) = Wilson(best.Happy, best.Prompts);
                sb.Append($" {F(best.HappyRate, "0.00")} [{F(lo, "0.00")}, {F(hi, "0.00")}] (α {F(best.Alpha, "0.#")}) |");
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>
    /// Per recipe and site: the profile's held-out accuracy, and accuracy on texts no probe saw: new sad vs new happy
    /// prompts, and new sad prompts vs the neutral stories (each with the recipe's own pooling).
    /// </summary>
    private static string ProbeTable(string model, Dictionary<string, string> profiles, ITokenizer tokenizer,
        List<IReadOnlyList<int>> sad, List<IReadOnlyList<int>> happy, List<IReadOnlyList<int>> stories)
    {
        var onnx = OnnxModel.Load(model);
        var sites = SiteFinder.Find(onnx).Sites.Where(s => s.Kind == SiteKind.Mlp).OrderBy(s => s.Layer).ToList();
        var recipes = Modes.Where(m => m.Probes is not null).ToList();
        var sb = new StringBuilder("Probe accuracy per layer (mlp sites, the sites steered): the profile's held-out texts / new sad vs new happy prompts / new sad prompts vs neutral stories:\n\n| site | " +
                                   string.Join(" | ", recipes.Select(r => r.Name)) + " |\n|---|" + string.Concat(recipes.Select(_ => "---|")) + "\n");
        var cells = new Dictionary<(string, string), string>();
        foreach (var recipe in recipes)
        {
            var probes = SteeringProfile.Load(profiles[recipe.Name]).Probes!;
            var pooling = probes.Activation == ProbeSet.MeanTokenSiteActivation ? TapPooling.Mean : TapPooling.LastToken;
            float[][][] Rows(List<IReadOnlyList<int>> texts)
            {
                using var recorder = new ActivationRecorder(onnx, sites, pooling: pooling);
                return texts.Chunk(8).SelectMany(c => recorder.Record(c)).ToArray();
            }
            var (sadRows, happyRows, storyRows) = (Rows(sad), Rows(happy), Rows(stories));
            for (var s = 0; s < sites.Count; s++)
            {
                var probe = probes.Of(sites[s].Id)!;
                var w = probe.Weights.Select(v => (double)v).ToArray();
                double Acc(float[][][] one, float[][][] zero) => ProbeFitter.Accuracy(w, probe.Bias,
                    one.Select(r => r[s]).Concat(zero.Select(r => r[s])).ToArray(), one.Select(_ => 1).Concat(zero.Select(_ => 0)).ToArray());
                cells[(recipe.Name, sites[s].Id)] = $"{F(probe.HeldOutAccuracy, "0.00")} / {F(Acc(sadRows, happyRows), "0.00")} / {F(Acc(sadRows, storyRows), "0.00")}";
            }
        }
        foreach (var site in sites)
            sb.Append($"| {site.Id} | " + string.Join(" | ", recipes.Select(r => cells[(r.Name, site.Id)])) + " |\n");
        return sb.ToString();
    }

    /// <summary>Gate statistics of each gated mode at alpha <see cref="GateAlpha"/>: where do the gates open?</summary>
    private static string GateTable(string work, List<IReadOnlyList<int>> sad, List<IReadOnlyList<int>> happy, List<IReadOnlyList<int>> stories)
    {
        var sb = new StringBuilder($"Gate statistics at alpha {F(GateAlpha, "0.#")} (mean over the steered sites; share of gates above 0.5 in brackets):\n\n" +
                                   "| mode | sad prompts, last token | sad prompts, all tokens | happy prompts, last token | neutral stories, all tokens |\n|---|---|---|---|---|\n");
        foreach (var mode in Modes.Where(m => m.Probes is not null))
        {
            var file = Path.Combine(work, $"{mode.Name}-{GateAlpha.ToString(CultureInfo.InvariantCulture)}", "model.onnx");
            if (!File.Exists(file)) { sb.Append($"| {mode.Name} | no site's probe reaches 0.75: nothing steered | | | |\n"); continue; }
            string Stat(List<IReadOnlyList<int>> texts, bool lastOnly)
            {
                var values = GateTrace.RunEach(file, texts).SelectMany(t => t.Gates.SelectMany(g => lastOnly ? [g[^1]] : g)).ToList();
                return $"{F(values.Average(v => (double)v))} ({F(values.Count(v => v > 0.5) / (double)values.Count, "0.00")})";
            }
            sb.Append($"| {mode.Name} | {Stat(sad, true)} | {Stat(sad, false)} | {Stat(happy, true)} | {Stat(stories, false)} |\n");
        }
        return sb.ToString();
    }

    private static readonly Dictionary<string, Rgb> Colours = new()
    {
        ["uniform"] = Rgb.Parse("#d62728"), ["pairs-last"] = Rgb.Parse("#ff7f0e"), ["pairs-mean"] = Rgb.Parse("#9467bd"),
        ["neutral-mean"] = Rgb.Parse("#1f77b4"), ["neutral-mean-pca4"] = Rgb.Parse("#2ca02c"), ["neutral-mean-pca16"] = Rgb.Parse("#17becf"), ["vanilla"] = Rgb.Parse("#555555"),
    };

    /// <summary>Two charts: happy rate against KL to vanilla (log axis), and against perplexity, with 95% intervals on both axes.</summary>
    private static void Charts(List<Point> points, string outDir)
    {
        File.WriteAllBytes(Path.Combine(outDir, "dynamic-front-kl.png"),
            Chart(points, p => p.Kl, "KL(vanilla || steered) per token on held-out neutral stories (log)", [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3]).ToPng());
        File.WriteAllBytes(Path.Combine(outDir, "dynamic-front-perplexity.png"),
            Chart(points, p => p.Perplexity, "perplexity of held-out neutral stories (log; vanilla 6.94)", [7, 8, 10, 15, 20, 30, 50]).ToPng());
    }

    private static RgbImage Chart(List<Point> points, Func<Point, Interval> cost, string xLabel, double[] tickValues)
    {
        const int W = 1000, H = 800, L = 90, R = 30, T = 60, B = 210, S = 2;
        var image = new RgbImage(W, H, new Rgb(255, 255, 255));
        var black = new Rgb(0, 0, 0);
        var grey = new Rgb(225, 225, 225);
        var shown = points.Where(p => p.Mode == "vanilla" || cost(p).Value > 0).ToList();
        var xs = shown.Where(p => p.Mode != "vanilla").SelectMany(p => new[] { cost(p).Low, cost(p).High }).Where(v => v > 0).ToList();
        double lo = xs.Min() * 0.8, hi = xs.Max() * 1.25;
        double Tx(double v) => Math.Log10(Math.Max(v, lo));
        int X(double v) => (int)Math.Round(L + (Tx(v) - Tx(lo)) / (Tx(hi) - Tx(lo)) * (W - L - R));
        int Y(double rate) => (int)Math.Round(H - B - rate * (H - T - B));
        image.DrawText(L, 20, "stories260K: happy after sad events, uniform vs gated AUSteer (k=16 mlp)", black, S);
        for (var i = 0; i <= 5; i++)
        {
            var rate = i / 5.0;
            image.FillRect(L, Y(rate), W - L - R, 1, grey);
            var label = rate.ToString("0.0", CultureInfo.InvariantCulture);
            image.DrawText(L - 10 - RgbImage.TextWidth(label, S), Y(rate) - 7, label, black, S);
        }
        var ticks = tickValues.Where(t => t >= lo && t <= hi);
        foreach (var t in ticks)
        {
            image.FillRect(X(t), T, 1, H - T - B, grey);
            var label = t.ToString("0.###", CultureInfo.InvariantCulture);
            image.DrawText(X(t) - RgbImage.TextWidth(label, S) / 2, H - B + 10, label, black, S);
        }
        image.FillRect(L, H - B, W - L - R, 2, black);
        image.FillRect(L, T, 2, H - T - B, black);
        image.DrawText(L, H - B + 40, xLabel, black, S);
        image.DrawText(L, H - B + 66, "y: happy rate on 210 held-out prompts; bars: 95% intervals; dashed: vanilla", black, S);
        var vanilla = points.First(p => p.Mode == "vanilla");
        for (var x = L; x < W - R; x += 12) image.FillRect(x, Y(vanilla.HappyRate), 6, 2, Colours["vanilla"]);
        var legend = 0;
        foreach (var mode in Modes)
        {
            var colour = Colours[mode.Name];
            var series = shown.Where(p => p.Mode == mode.Name).OrderBy(p => p.Alpha).ToList();
            for (var i = 1; i < series.Count; i++)
                Line(image, X(cost(series[i - 1]).Value), Y(series[i - 1].HappyRate), X(cost(series[i]).Value), Y(series[i].HappyRate), colour);
            foreach (var p in series)
            {
                var (rlo, rhi) = Wilson(p.Happy, p.Prompts);
                image.FillRect(X(cost(p).Value), Y(rhi), 1, Y(rlo) - Y(rhi) + 1, colour);
                image.FillRect(X(cost(p).Low), Y(p.HappyRate), Math.Max(1, X(cost(p).High) - X(cost(p).Low)), 1, colour);
                image.FillRect(X(cost(p).Value) - 4, Y(p.HappyRate) - 4, 9, 9, colour);
            }
            var (lx, ly) = (L, H - B + 96 + legend * 18);
            image.FillRect(lx, ly + 5, 30, 4, colour);
            image.DrawText(lx + 40, ly, mode.Description + (series.Count == 0 ? " (no probe >= 0.75)" : ""), black, S);
            legend++;
        }
        return image;
    }

    /// <summary>A 2-pixel line from (x0, y0) to (x1, y1).</summary>
    private static void Line(RgbImage image, int x0, int y0, int x1, int y1, Rgb colour)
    {
        var steps = Math.Max(Math.Abs(x1 - x0), Math.Abs(y1 - y0));
        for (var i = 0; i <= steps; i++)
        {
            var t = steps == 0 ? 0 : (double)i / steps;
            image.FillRect((int)Math.Round(x0 + t * (x1 - x0)), (int)Math.Round(y0 + t * (y1 - y0)), 2, 2, colour);
        }
    }
}
