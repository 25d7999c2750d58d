using System.Diagnostics;
using OnnxSteer.ModelFiles;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Tests.Hardening;

/// <summary>A reader under test: it gets the path of a mutated file and must either succeed or throw an <see cref="OnnxSteerException"/>.</summary>
internal sealed record FuzzTarget(
    string Name, string FileName, IReadOnlyList<byte[]> Seeds,
    IReadOnlyList<Func<byte[], Random, byte[]>> Mutators, Action<string> Read);

/// <summary>One input that broke the contract: the target, the iteration seed that reproduces it, and what happened.</summary>
internal sealed record FuzzFailure(string Target, int Iteration, int Seed, string Mutation, string Problem, string? SavedInput);

/// <summary>What a fuzz run tried and found.</summary>
internal sealed record FuzzSummary(int Inputs, IReadOnlyDictionary<string, int> InputsPerTarget, IReadOnlyDictionary<string, int> Rejected,
    TimeSpan Slowest, long MostAllocated, IReadOnlyList<FuzzFailure> Failures);

/// <summary>
/// Runs mutated seed files through the tool's readers. The contract checked per input: no exception other than
/// <see cref="OnnxSteerException"/> (and its subclasses), at most <see cref="TimeLimit"/> of the reader thread's CPU time
/// (wall time where the OS does not report it; <see cref="ThreadCpuClock"/>), and at most
/// <see cref="AllocationLimit"/> plus 64× the input size allocated (a length field claiming 100 GB must not be believed).
/// Iteration i uses <c>new Random(baseSeed + i)</c>, so any failure reproduces alone.
/// </summary>
internal sealed class ReaderFuzzer(IReadOnlyList<FuzzTarget> targets, string workDir, string? failureDir)
{
    public static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(10);
    /// <summary>Wall time after which a reader that does not use its CPU (blocked) counts as hung.</summary>
    public static readonly TimeSpan WallBackstop = TimeSpan.FromMinutes(5);
    public const long AllocationLimit = 512L << 20;

    /// <summary>Runs <paramref name="iterations"/> inputs; <paramref name="progress"/> gets a line every 1000 inputs (long runs).</summary>
    public FuzzSummary Run(int iterations, int baseSeed, Action<string>? progress = null)
    {
        var failures = new List<FuzzFailure>();
        var perTarget = targets.ToDictionary(t => t.Name, _ => 0);
        var rejected = targets.ToDictionary(t => t.Name, _ => 0);
        var slowest = TimeSpan.Zero;
        long mostAllocated = 0;
        for (var i = 0; i < iterations; i++)
        {
            var seed = baseSeed + i;
            var target = targets[i % targets.Count];
            var (input, mutator) = Input(target, seed);
            var path = Path.Combine(workDir, target.FileName);
            File.WriteAllBytes(path, input);
            perTarget[target.Name]++;

            var outcome = RunOne(target, path);
            if (outcome.Elapsed > slowest) slowest = outcome.Elapsed;
            if (outcome.Allocated > mostAllocated) mostAllocated = outcome.Allocated;
            if (outcome.Rejected) rejected[target.Name]++;
            if (progress is not null && (i + 1) % 1000 == 0)
                progress($"{DateTime.UtcNow:HH:mm:ss} {i + 1}/{iterations} inputs, {rejected.Values.Sum()} rejected, {failures.Count} failures, " +
                         $"slowest {slowest.TotalMilliseconds:0} ms, most allocated {mostAllocated >> 20} MB");
            var problem = outcome.Problem;
            if (problem is null && outcome.Allocated > AllocationLimit + 64L * input.Length)
                problem = $"allocated {outcome.Allocated >> 20} MB for a {input.Length}-byte input";
            if (problem is null) continue;
            string? saved = null;
            if (failureDir is not null)
            {
                Directory.CreateDirectory(failureDir);
                saved = Path.Combine(failureDir, $"{target.Name}-{seed}-{target.FileName}");
                File.WriteAllBytes(saved, input);
            }
            failures.Add(new FuzzFailure(target.Name, i, seed, mutator.Method.Name, problem, saved));
            if (outcome.Hung) break; // the reader's thread is still busy; stop rather than pile up.
        }
        return new FuzzSummary(iterations, perTarget, rejected, slowest, mostAllocated, failures);
    }

    /// <summary>The input iteration seed <paramref name="seed"/> feeds to <paramref name="target"/>, and its first mutation.</summary>
    public static (byte[] Input, Func<byte[], Random, byte[]> Mutator) Input(FuzzTarget target, int seed)
    {
        var rng = new Random(seed);
        var mutator = target.Mutators[rng.Next(target.Mutators.Count)];
        var input = mutator(target.Seeds[rng.Next(target.Seeds.Count)], rng);
        // Sometimes stack a second mutation (e.g. truncate an inflated file).
        if (rng.Next(4) == 0) input = target.Mutators[rng.Next(target.Mutators.Count)](input, rng);
        return (input, mutator);
    }

    private readonly record struct Outcome(bool Rejected, string? Problem, TimeSpan Elapsed, long Allocated, bool Hung);

    private static Outcome RunOne(FuzzTarget target, string path)
    {
        long allocated = 0;
        var rejected = false;
        string? problem = null;
        var clock = Stopwatch.StartNew();
        var tid = 0;
        TimeSpan? cpuUsed = null;
        // A dedicated thread: it can be abandoned on a hang, and its allocation counter is the reader's alone.
        var thread = new Thread(() =>
        {
            tid = ThreadCpuClock.CurrentThreadId();
            var cpuStart = ThreadCpuClock.Self();
            var before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                target.Read(path);
            }
            catch (OnnxSteerException)
            {
                rejected = true;
            }
            catch (Exception e)
            {
                problem = $"{e.GetType().FullName}: {e.Message.Split('\n')[0]}\n{FirstFrames(e)}";
            }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            cpuUsed = ThreadCpuClock.Self() - cpuStart;
        }, maxStackSize: 16 << 20) { IsBackground = true };
        thread.Start();
        // The limit is on the reader thread's own CPU time where Linux reports it: wall time on a shared machine at
        // load 70-115 (or under nice 19) measures the machine, and flagged 0.2 s inputs as hangs. A reader that blocks
        // without spinning is caught by the wall-clock backstop.
        while (!thread.Join(TimeSpan.FromMilliseconds(100)))
        {
            var cpu = ThreadCpuClock.Of(Volatile.Read(ref tid));
            var overLimit = cpu is { } used ? used > TimeLimit : !OperatingSystem.IsLinux() && clock.Elapsed > TimeLimit;
            if (overLimit || clock.Elapsed > WallBackstop)
                return new Outcome(false, $"no answer after {(cpu ?? clock.Elapsed).TotalSeconds:0} s of {(cpu is null ? "wall" : "CPU")} time", cpu ?? clock.Elapsed, 0, true);
        }
        return new Outcome(rejected, problem, cpuUsed ?? clock.Elapsed, allocated, false);
    }

    private static string FirstFrames(Exception e) =>
        string.Join("\n", (e.StackTrace ?? "").Split('\n').Take(6).Select(l => l.TrimEnd()));
}

/// <summary>
/// A thread's own CPU time (user + system) on Linux: for the calling thread through clock_gettime, for another thread
/// of this process from /proc/self/task/TID/stat. Elsewhere (or when unreadable) null, and the fuzzer uses wall time.
/// </summary>
internal static class ThreadCpuClock
{
    private const int ClockThreadCpuTimeId = 3;
    private static readonly bool Linux = OperatingSystem.IsLinux();
    private static readonly long TicksPerSecond = 100; // sysconf(_SC_CLK_TCK) is 100 on every Linux ABI .NET runs on

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct Timespec { public long Seconds; public long Nanoseconds; }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out Timespec time);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();

    /// <summary>The calling thread's kernel id (0 where unknown).</summary>
    public static int CurrentThreadId() => Linux ? GetTid() : 0;

    /// <summary>The calling thread's CPU time, or null.</summary>
    public static TimeSpan? Self() =>
        Linux && ClockGetTime(ClockThreadCpuTimeId, out var t) == 0 ? TimeSpan.FromTicks(t.Seconds * TimeSpan.TicksPerSecond + t.Nanoseconds / 100) : null;

    /// <summary>CPU time of this process's thread <paramref name="tid"/> (utime + stime), or null.</summary>
    public static TimeSpan? Of(int tid)
    {
        if (!Linux || tid == 0) return null;
        try
        {
            var stat = File.ReadAllText($"/proc/self/task/{tid}/stat");
            // Fields after the command name (which may hold spaces) start after the last ')'; utime and stime are 14 and 15.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds((double)ticks / TicksPerSecond);
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>The readers the fuzzer exercises and their seed files.</summary>
internal static class FuzzTargets
{
    private static readonly Func<byte[], Random, byte[]>[] ProtoMutators =
        [Mutations.FlipBits, Mutations.Truncate, Mutations.InflateLength, Mutations.InflateLength, Mutations.NestedModelBomb, Mutations.RepeatProtoField];

    private static readonly Func<byte[], Random, byte[]>[] JsonMutators =
        [Mutations.FlipBits, Mutations.Truncate, Mutations.NestedJsonBomb, Mutations.RepeatJsonElement, Mutations.ExtremeJsonNumber, Mutations.ExtremeJsonNumber];

    private static readonly Func<byte[], Random, byte[]>[] BinaryMutators =
        [Mutations.FlipBits, Mutations.Truncate, Mutations.InflateInt32, Mutations.InflateInt32, Mutations.RepeatTail];

    /// <summary>
    /// Model loader + site finder (seeds: libonnx-testdata models, the tiny genai export when ../shared is present,
    /// and the in-code tiny decoder), the profile reader (a profile built in code), and the tokenizer readers
    /// (tokenizer.json and llama2.c tok*.bin; seeds from ../shared's stories260K tokenizer, else a built one).
    /// </summary>
    public static IReadOnlyList<FuzzTarget> All(string workDir)
    {
        var decoder = new Patching.TinyDecoder();
        var models = new List<byte[]> { decoder.Proto.ToByteArrayOf() };
        const string testdata = "/usr/share/libonnx-testdata/data";
        if (Directory.Exists(testdata))
        {
            var files = Directory.EnumerateFiles(testdata, "model.onnx", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
            // A fixed spread across the suite (node tests, pytorch-converted, simple models), smallest-first within reason.
            models.AddRange(files.Where((_, i) => i % 97 == 0).Select(File.ReadAllBytes).Where(b => b.Length < 1 << 20));
        }
        if (Infrastructure.SharedData.Available)
        {
            var genai = Infrastructure.SharedData.TinyGenaiModelDir;
            models.Add(File.ReadAllBytes(Path.Combine(genai, "model.onnx")));
            // Its weights file beside the fuzzed model.onnx, so external-data checks run on real references.
            File.Copy(Path.Combine(genai, "model.onnx.data"), Path.Combine(workDir, "model.onnx.data"), overwrite: true);
        }

        var profile = Patching.TestProfiles.Make(decoder.Model(), decoder.Sites(), k: 3, alpha: 4, pairs: 5);
        var profileBytes = ProfileJson.Serialize(profile);

        byte[] tokBin = Infrastructure.SharedData.Available
            ? File.ReadAllBytes(Path.Combine(Infrastructure.SharedData.Stories260KDir, "tok512.bin"))
            : BuiltLlama2cTokenizer();
        var tokJson = System.Text.Encoding.UTF8.GetBytes(ReadTokBin(tokBin, workDir).ToTokenizerJson());

        return
        [
            new FuzzTarget("model", "model.onnx", models, ProtoMutators, path => SiteFinder.Find(OnnxModel.Load(path))),
            new FuzzTarget("profile", "profile.json", [profileBytes], JsonMutators, path => ProfileJson.Load(path)),
            new FuzzTarget("tokenizer-json", "tokenizer.json", [tokJson], JsonMutators,
                path => TokenizerLoader.Load(path).EncodeToIds("Hello world, once upon a time.")),
            new FuzzTarget("tokenizer-bin", "tok.bin", [tokBin], BinaryMutators,
                path => TokenizerLoader.Load(path).EncodeToIds("Hello world, once upon a time.")),
        ];
    }

    private static byte[] ToByteArrayOf(this Onnx.ModelProto proto) => Google.Protobuf.MessageExtensions.ToByteArray(proto);

    private static Llama2cTokenizerFile ReadTokBin(byte[] bytes, string workDir)
    {
        var path = Path.Combine(workDir, "seed-tok.bin");
        File.WriteAllBytes(path, bytes);
        return Llama2cTokenizerFile.Read(path);
    }

    /// <summary>A small llama2.c tokenizer (unk, BOS, EOS, byte tokens, a few words) in its binary layout.</summary>
    private static byte[] BuiltLlama2cTokenizer()
    {
        var pieces = new List<string> { "<unk>", "\n<s>\n", "\n</s>\n" };
        pieces.AddRange(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"));
        pieces.AddRange(["▁", "e", "o", "▁t", "he", "▁the", "▁Hello", "▁world", "▁once", "▁upon", "▁a", "▁time", ",", "."]);
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream);
        writer.Write(16);
        for (var i = 0; i < pieces.Count; i++)
        {
            var utf8 = System.Text.Encoding.UTF8.GetBytes(pieces[i]);
            writer.Write(i < 259 ? 0f : -(float)i);
            writer.Write(utf8.Length);
            writer.Write(utf8);
        }
        writer.Flush();
        return stream.ToArray();
    }
}
