using System.Diagnostics;
using System.Runtime.InteropServices;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Bench;

/// <summary>B1: patch cost against copying the graph file and reading the data file (external data), and against a
/// plain copy for an inline model; peak RSS in separate processes; where the patch time goes.</summary>
public static class PatchBench
{
    /// <summary>Every unit of every attn and mlp site (the CLI's --k 100000000 --sites attn,mlp).</summary>
    private static readonly PatchSettings AllUnits = new() { K = 100_000_000, Sites = [SiteKind.Attn, SiteKind.Mlp] };
    private static readonly PatchSettings K100 = new() { K = 100 };

    /// <summary>A profile with counts over every site of the model, from seeded random rows (no inference: B1 times
    /// the patch, not the profiling), with k = 100 selected. Written once.</summary>
    public static void EnsureProfile(string modelDir, string profilePath, int pairs = 8)
    {
        if (File.Exists(profilePath)) return;
        var model = StreamingModelRewriter.LoadLean(modelDir);
        var sites = SiteFinder.Find(model).Sites;
        var counter = new MomentumCounter(sites.Select(ProfileSite.From));
        var rng = new Random(9);
        float[] Row(int width)
        {
            var r = new float[width];
            for (var i = 0; i < width; i++) r[i] = (float)(rng.NextDouble() * 2 - 1);
            return r;
        }
        for (var p = 0; p < pairs; p++)
            counter.AddPair(sites.Select(s => Row(s.Width)).ToList(), sites.Select(s => Row(s.Width)).ToList());
        var profile = counter.ToProfile(ModelFingerprint.Compute(model, sites), SteeringMethod.AuSteer);
        profile = UnitSelector.Select(profile, 100, 2, sites.Select(s => s.Kind).Distinct().ToList(), false, SteeringMethod.AuSteer);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(profilePath))!);
        profile.Save(profilePath);
    }

    private static double TimePatch(string model, string profile, string output, PatchSettings request, Action<PatchOutcome>? seen = null)
    {
        DeleteDir(output);
        var clock = Stopwatch.StartNew();
        var outcome = Steerer.Patch(model, profile, output, request);
        var s = clock.Elapsed.TotalSeconds;
        seen?.Invoke(outcome);
        DeleteDir(output);
        return s;
    }

    private static void DeleteDir(string dir)
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    /// <summary>Reads a file once, sequentially, 4 MiB at a time.</summary>
    private static double TimeRead(string path)
    {
        var buffer = new byte[4 << 20];
        var clock = Stopwatch.StartNew();
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan))
            while (f.Read(buffer, 0, buffer.Length) > 0) { }
        return clock.Elapsed.TotalSeconds;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int posix_fadvise(int fd, long offset, long len, int advice);

    /// <summary>Evicts <paramref name="path"/>'s clean pages from the page cache (POSIX_FADV_DONTNEED works without root,
    /// unlike /proc/sys/vm/drop_caches), so the next read comes from the disk. False when that is not possible.</summary>
    public static bool EvictFromPageCache(string path)
    {
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return posix_fadvise((int)f.SafeFileHandle.DangerousGetHandle(), 0, 0, 4) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or IOException) { return false; }
    }

    private static string CountText(PatchOutcome o) =>
        $"steered {o.Plan.Sites.Sum(s => s.Units.Count)} unit(s) at {o.Plan.Sites.Count} site(s)";

    /// <summary>B1 with external data.</summary>
    public static void External(string modelDir, string profile, string work, int rounds, bool cold, Report report)
    {
        var modelFile = Path.Combine(modelDir, "model.onnx");
        var dataFile = Path.Combine(modelDir, "model.onnx.data");
        var graphBytes = new FileInfo(modelFile).Length;
        var dataBytes = new FileInfo(dataFile).Length;
        var copy = Path.Combine(work, "graph-copy.onnx");
        string k100Text = "", allText = "";
        var coldOk = cold && EvictFromPageCache(dataFile);

        var contenders = new List<Contender>
        {
            new("(a) File.Copy model.onnx (graph file alone)", () =>
            {
                if (File.Exists(copy)) File.Delete(copy);
                var s = Rounds.Time(() => File.Copy(modelFile, copy));
                File.Delete(copy);
                return s;
            }),
            new("(b) read model.onnx.data once (warm page cache)", () => TimeRead(dataFile)),
            new("patch k=100", () => TimePatch(modelDir, profile, Path.Combine(work, "out-k100"), K100, o => k100Text = CountText(o))),
            // The profile already holds this k=100 selection: applied as stored, the counts are never parsed.
            new("patch stored selection (k=100)", () => TimePatch(modelDir, profile, Path.Combine(work, "out-stored"), new PatchSettings())),
            new("patch every unit (attn+mlp)", () => TimePatch(modelDir, profile, Path.Combine(work, "out-all"), AllUnits, o => allText = CountText(o))),
        };
        if (coldOk)
            contenders.Insert(1, new("(b) read model.onnx.data once (cold: evicted first)", () =>
            {
                EvictFromPageCache(dataFile);
                return TimeRead(dataFile);
            }));
        var times = Rounds.Run(contenders, rounds, warmup: true, log: Console.Error.WriteLine);

        report.Line($"## B1 — patch cost is the graph's, not the weights' (in-process, {rounds} interleaved rounds)");
        report.Line();
        report.Line($"Model: `{modelDir}`: model.onnx {Md.MiB(graphBytes)}, model.onnx.data {Md.MiB(dataBytes)} ({dataBytes:N0} bytes).");
        report.Line($"Patches (`Steerer.Patch`, the whole `patch` command minus process start): k=100 ({k100Text}); every unit of every attn and mlp site ({allText}).");
        report.Line("The output folder is new each run; the data file is hard-linked into it, never read or copied.");
        report.Line(coldOk
            ? "Page cache: the warm read follows a read of the same file; the cold read evicts the file first with posix_fadvise(DONTNEED) (no root needed), so it is disk-bound."
            : "Page cache: warm only (evicting the file from the page cache was not possible here).");
        report.Line();
        Table(report, times);
        var a = times[contenders[0].Name];
        var bWarm = times["(b) read model.onnx.data once (warm page cache)"];
        var bCold = coldOk ? times["(b) read model.onnx.data once (cold: evicted first)"] : null;
        report.Line("| ratio (per-round pairs) | median (min–max) | target |");
        report.Line("|---|---|---|");
        foreach (var (label, key) in new[] { ("patch k=100", "patch k=100"), ("patch stored selection", "patch stored selection (k=100)"), ("patch every unit", "patch every unit (attn+mlp)") })
        {
            report.Line($"| {label} / (a) copy graph file | {Md.Ratio(Stat.Paired(times[key], a))} | ≤ 3 |");
            report.Line($"| {label} / (b) read data, warm | {Md.Ratio(Stat.Paired(times[key], bWarm))} | ≤ 0.01 |");
            if (bCold is not null) report.Line($"| {label} / (b) read data, cold | {Md.Ratio(Stat.Paired(times[key], bCold))} | ≤ 0.01 |");
        }
        report.Line();
        Stages(modelDir, profile, work, rounds, report, K100, "k=100 patch");
        Stages(modelDir, profile, work, rounds, report);
        Rss(modelDir, profile, work, graphBytes, report, "external data");
    }

    /// <summary>B1 with inline weights: the streaming rewrite against a plain copy, and the ordinary (materialising) path.</summary>
    public static void Inline(string inlineFile, string profile, string work, int rounds, Report report)
    {
        var bytes = new FileInfo(inlineFile).Length;
        var copy = Path.Combine(work, "inline-copy.onnx");
        var ordinaryOut = Path.Combine(work, "inline-ordinary.onnx");
        string text = "";
        var contenders = new List<Contender>
        {
            new("File.Copy model.onnx (whole inline file)", () =>
            {
                if (File.Exists(copy)) File.Delete(copy);
                var s = Rounds.Time(() => File.Copy(inlineFile, copy));
                File.Delete(copy);
                return s;
            }),
            new("File.Copy + fsync (a durable copy, as patch writes)", () =>
            {
                if (File.Exists(copy)) File.Delete(copy);
                var s = Rounds.Time(() =>
                {
                    File.Copy(inlineFile, copy);
                    using var f = new FileStream(copy, FileMode.Open, FileAccess.ReadWrite);
                    f.Flush(flushToDisk: true);
                });
                File.Delete(copy);
                return s;
            }),
            new("patch k=100 (streaming rewrite)", () => TimePatch(inlineFile, profile, Path.Combine(work, "inline-out"), K100 with { Force = true }, o => text = CountText(o))),
            new("ordinary path: full load, patch, WriteTo (before the streaming rewrite)", () =>
            {
                var s = Rounds.Time(() => OrdinaryPatch(inlineFile, profile, ordinaryOut));
                File.Delete(ordinaryOut);
                return s;
            }),
        };
        var times = Rounds.Run(contenders, rounds, warmup: true, log: Console.Error.WriteLine);
        report.Line($"### B1, inline weights: the whole file is rewritten ({rounds} interleaved rounds)");
        report.Line();
        report.Line($"Model: `{inlineFile}` ({Md.MiB(bytes)}, every weight inline). `patch` k=100 ({text}, `--force`: the profile was made on the");
        report.Line("external-data copy). The streaming rewrite (`StreamingModelRewriter`) parses the model without the large raw_data payloads");
        report.Line("and copies each unchanged initializer's bytes from the source file to the output; the ordinary path parses all of it,");
        report.Line("patches and serialises it again (what `patch` did before). The output is written and fsync'ed, then deleted (untimed).");
        report.Line();
        Table(report, times);
        var c = times[contenders[0].Name];
        report.Line("| ratio (per-round pairs) | median (min–max) | target |");
        report.Line("|---|---|---|");
        var durable = times[contenders[1].Name];
        report.Line($"| patch (streaming) / File.Copy | {Md.Ratio(Stat.Paired(times[contenders[2].Name], c))} | ≤ 1.5 |");
        report.Line($"| patch (streaming) / File.Copy + fsync | {Md.Ratio(Stat.Paired(times[contenders[2].Name], durable))} | ≤ 1.5 |");
        report.Line($"| ordinary path / File.Copy | {Md.Ratio(Stat.Paired(times[contenders[3].Name], c))} | (before) |");
        report.Line($"| ordinary path / File.Copy + fsync | {Md.Ratio(Stat.Paired(times[contenders[3].Name], durable))} | (before) |");
        report.Line();
        Stages(inlineFile, profile, work, rounds, report, K100 with { Force = true }, "k=100 inline patch");
        Rss(inlineFile, profile, work, bytes, report, "inline", force: true);
    }

    /// <summary>The pre-streaming patch: full load (weights in memory), GraphPatcher, serialise, fsync.</summary>
    private static void OrdinaryPatch(string modelFile, string profilePath, string output)
    {
        var model = OnnxModel.Load(modelFile);
        var plan = SteeringPlanner.Plan(new SteeringTarget(model), new ProfileFile(profilePath), (K100 with { Force = true }).Request).Plan;
        var result = GraphPatcher.Apply(model, plan, PatchOptions.Default);
        using var f = new FileStream(output, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        Google.Protobuf.MessageExtensions.WriteTo(result.Model.Proto, f);
        f.Flush(flushToDisk: true);
    }

    /// <summary>Where the time of one patch goes, stage by stage (the steps of <see cref="Steerer.Patch(string, string, string, PatchSettings?)"/>).</summary>
    private static void Stages(string modelDir, string profilePath, string work, int rounds, Report report,
        PatchSettings? request = null, string label = "every-unit patch")
    {
        request ??= AllUnits;
        var names = new[] { "load graph (lean)", "find sites", "load profile + sha256", "plan", "rewrite graph", "write output (link data, write model)" };
        var times = names.ToDictionary(n => n, _ => new List<double>());
        var output = Path.Combine(work, "out-stages");
        for (var r = 0; r < rounds; r++)
        {
            DeleteDir(output);
            var clock = Stopwatch.StartNew();
            double Lap() { var s = clock.Elapsed.TotalSeconds; clock.Restart(); return s; }
            var model = StreamingModelRewriter.LoadLean(modelDir);
            times[names[0]].Add(Lap());
            var target = new SteeringTarget(model);
            _ = target.Sites;
            times[names[1]].Add(Lap());
            var profile = SteeringProfile.Load(profilePath);
            var sha = ProfileFile.Sha256Of(profilePath);
            times[names[2]].Add(Lap());
            var planned = SteeringPlanner.Plan(target, new InMemoryProfile(profile, sha, profilePath), request.Request);
            times[names[3]].Add(Lap());
            var result = GraphPatcher.Apply(planned.Graph, planned.Plan, PatchOptions.Default);
            times[names[4]].Add(Lap());
            SteeredModelWriter.Write(model, result.Model, result.FoldedTensors, output);
            times[names[5]].Add(Lap());
        }
        DeleteDir(output);
        report.Line($"Where the time goes ({label}, stage by stage, {rounds} runs; profile.json {Md.MiB(new FileInfo(profilePath).Length)}):");
        report.Line();
        report.Line("| stage | median | min–max |");
        report.Line("|---|---|---|");
        foreach (var n in names) report.Line($"| {n} | {Md.Seconds(Stat.Of(times[n]))} |");
        report.Line();
    }

    /// <summary>Peak RSS (VmHWM) of a patch in a fresh process, against the bare runtime's and the target.</summary>
    private static void Rss(string model, string profile, string work, long graphBytes, Report report, string label, bool force = false)
    {
        long Child(params string[] args)
        {
            var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
            psi.ArgumentList.Add(typeof(PatchBench).Assembly.Location);
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var text = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException($"rss child failed: {string.Join(' ', args)}");
            return long.Parse(text.Trim().Split('\n')[^1]);
        }
        var baseline = Child("rss", "baseline");
        var k100 = Child("rss", "patch", model, profile, Path.Combine(work, "rss-out"), "100", force ? "force" : "");
        var all = force ? -1 : Child("rss", "patch", model, profile, Path.Combine(work, "rss-out"), "all", "");
        var limit = 2 * graphBytes + (64L << 20);
        report.Line($"Peak RSS ({label}; VmHWM of a fresh process that runs one patch):");
        report.Line();
        report.Line("| process | peak RSS | target |");
        report.Line("|---|---|---|");
        report.Line($"| runtime baseline: start, load the library, no work | {Md.MiB(baseline << 10)} | |");
        report.Line($"| patch k=100 | {Md.MiB(k100 << 10)} | ≤ 2 × graph file + 64 MiB = {Md.MiB(limit)} |");
        if (all >= 0) report.Line($"| patch every unit (attn+mlp) | {Md.MiB(all << 10)} | ≤ {Md.MiB(limit)} |");
        report.Line($"| patch k=100 minus runtime baseline | {Md.MiB((k100 - baseline) << 10)} | |");
        report.Line();
    }

    /// <summary>Child process body for <see cref="Rss"/>: prints VmHWM in KiB.</summary>
    public static int RssChild(string[] args)
    {
        if (args[1] == "patch")
        {
            var request = args[5] == "all" ? AllUnits : K100;
            if (args.Length > 6 && args[6] == "force") request = request with { Force = true };
            DeleteDir(args[4]);
            Steerer.Patch(args[2], args[3], args[4], request);
            DeleteDir(args[4]);
        }
        else
        {
            // The same assemblies as a patch touches, without the work.
            _ = typeof(SteeringPlanner).Assembly;
            _ = new Onnx.ModelProto();
        }
        var hwm = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        Console.WriteLine(hwm.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        return 0;
    }

    private static void Table(Report report, Dictionary<string, List<double>> times)
    {
        report.Line("| what | median | min–max | runs |");
        report.Line("|---|---|---|---|");
        foreach (var (name, list) in times)
        {
            var s = Stat.Of(list);
            report.Line($"| {name} | {Md.Seconds(s)} | {s.N} |");
        }
        report.Line();
    }
}
