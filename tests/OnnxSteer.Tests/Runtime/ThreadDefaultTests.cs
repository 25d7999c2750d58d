using OnnxSteer.Runtime;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Runtime;

/// <summary>The CPU count sessions get by default: affinity lowered to the cgroup quota, read from fake cgroup folders.</summary>
public sealed class UsableCpusTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("onnxsteer-cgroup-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string V2(string cpuMax)
    {
        File.WriteAllText(Path.Combine(_root, "cpu.max"), cpuMax + "\n");
        return _root;
    }

    private string V1(string quota, string period)
    {
        Directory.CreateDirectory(Path.Combine(_root, "cpu"));
        File.WriteAllText(Path.Combine(_root, "cpu", "cpu.cfs_quota_us"), quota + "\n");
        File.WriteAllText(Path.Combine(_root, "cpu", "cpu.cfs_period_us"), period + "\n");
        return _root;
    }

    [Theory]
    [InlineData("max 100000", 8, 8)]       // no quota: the affinity mask
    [InlineData("200000 100000", 8, 2)]    // 2 CPUs of quota
    [InlineData("150000 100000", 8, 2)]    // 1.5 rounds up
    [InlineData("50000 100000", 8, 1)]     // half a CPU: still one thread
    [InlineData("800000 100000", 3, 3)]    // more quota than the mask allows
    [InlineData("garbage", 4, 4)]          // unreadable: no limit
    public void Cgroup_v2_cpu_max_lowers_the_affinity_count(string cpuMax, int affinity, int expected) =>
        Assert.Equal(expected, UsableCpus.Count(affinity, V2(cpuMax)));

    [Theory]
    [InlineData("-1", "100000", 6, 6)]
    [InlineData("300000", "100000", 6, 3)]
    [InlineData("250000", "100000", 16, 3)]
    public void Cgroup_v1_quota_and_period_lower_the_affinity_count(string quota, string period, int affinity, int expected) =>
        Assert.Equal(expected, UsableCpus.Count(affinity, V1(quota, period)));

    [Fact]
    public void No_cgroup_files_leave_the_affinity_count() => Assert.Equal(5, UsableCpus.Count(5, _root));

    [Fact]
    public void Sessions_get_one_intra_op_thread_per_usable_cpu_unless_told()
    {
        Assert.InRange(UsableCpus.ForThisProcess, 1, Environment.ProcessorCount);
        using (var options = RuntimeSettings.Default.CreateSessionOptions())
            Assert.Equal(UsableCpus.ForThisProcess, options.IntraOpNumThreads);
        using (var options = new RuntimeSettings { Threads = 3 }.CreateSessionOptions())
            Assert.Equal(3, options.IntraOpNumThreads);
        Assert.Equal("{\"model\":{\"decoder\":{\"session_options\":{\"intra_op_num_threads\":5}}}}", new RuntimeSettings { Threads = 5 }.GenaiConfigOverlay());
        Assert.Contains($"\"intra_op_num_threads\":{UsableCpus.ForThisProcess}}}", RuntimeSettings.Default.GenaiConfigOverlay());
    }
}

/// <summary>
/// onnxruntime-genai receives the thread count: ONNX Runtime starts an intra-op pool of N−1 threads for a session of
/// N threads, so the OS threads a genai model adds grow with the count asked for. Runs alone, so that no other test's
/// threads are counted.
/// </summary>
[Collection(nameof(LeakTestsCollection))]
public class GenaiThreadTests
{
    private static int OsThreads() => Directory.GetDirectories("/proc/self/task").Length;

    private static int ThreadsAdded(int threads)
    {
        var before = OsThreads();
        using var host = OnnxSteer.Generation.GenaiHost.Open(SharedData.TinyGenaiModelDir, new RuntimeSettings { Threads = threads });
        return OsThreads() - before;
    }

    [SharedFact]
    public void Genai_sessions_get_the_threads_asked_for()
    {
        if (!OperatingSystem.IsLinux()) return;
        ThreadsAdded(1); // genai's own one-time threads, if any, are started here
        var one = ThreadsAdded(1);
        var seven = ThreadsAdded(7);
        // 6 more pool threads with 7 than with 1; a thread started or ended elsewhere meanwhile gets a margin of 2.
        Assert.True(seven - one >= 4, $"a genai session of 7 threads added {seven} OS threads, one of 1 thread {one}: the count did not reach genai");
    }
}
