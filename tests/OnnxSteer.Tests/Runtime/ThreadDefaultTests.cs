using System.Diagnostics;
using OnnxSteer.Runtime;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.Runtime;

/// <summary>
/// One usable-CPU count for every default that scales with the machine: ONNX Runtime's intra-op threads (own loop and
/// onnxruntime-genai) and the server's generations at once. It is .NET's <see cref="Environment.ProcessorCount"/>, which
/// honours the affinity mask, the cgroup CPU quota and DOTNET_PROCESSOR_COUNT; the server is started as a child process
/// under a smaller count to see both defaults follow it.
/// </summary>
public sealed class UsableCpuTests
{
    [Fact]
    public void Sessions_get_one_intra_op_thread_per_usable_cpu_unless_told()
    {
        Assert.Equal(Environment.ProcessorCount, RuntimeSettings.UsableCpus);
        Assert.Equal(RuntimeSettings.UsableCpus, RuntimeSettings.Default.IntraOpThreads);
        using (var options = RuntimeSettings.Default.CreateSessionOptions())
            Assert.Equal(RuntimeSettings.UsableCpus, options.IntraOpNumThreads);
        using (var options = new RuntimeSettings { Threads = 3 }.CreateSessionOptions())
            Assert.Equal(3, options.IntraOpNumThreads);
        Assert.Equal("{\"model\":{\"decoder\":{\"session_options\":{\"intra_op_num_threads\":5}}}}", new RuntimeSettings { Threads = 5 }.GenaiConfigOverlay());
        Assert.Contains($"\"intra_op_num_threads\":{RuntimeSettings.UsableCpus}}}", RuntimeSettings.Default.GenaiConfigOverlay());
    }

    /// <summary>
    /// A sanity bound: up to four threads per usable CPU, beyond that (a typo such as 1000 for 10, which would start
    /// a thousand spinning pool threads) and below 0 the settings are refused with the parameter named.
    /// </summary>
    [Fact]
    public void Threads_beyond_four_per_usable_cpu_or_below_zero_are_refused()
    {
        Assert.Equal(4 * RuntimeSettings.UsableCpus, RuntimeSettings.MaxThreads);
        using (var options = new RuntimeSettings { Threads = RuntimeSettings.MaxThreads }.CreateSessionOptions())
            Assert.Equal(RuntimeSettings.MaxThreads, options.IntraOpNumThreads);
        foreach (var bad in new[] { RuntimeSettings.MaxThreads + 1, 100_000, -1 })
        {
            var e = Assert.Throws<InvalidParameterException>(() => new RuntimeSettings { Threads = bad }.CreateSessionOptions());
            Assert.Equal("threads", e.ParamName);
            Assert.Contains($"must be between 0 and {RuntimeSettings.MaxThreads}", e.Message);
            Assert.Throws<InvalidParameterException>(() => new RuntimeSettings { Threads = bad }.GenaiConfigOverlay());
        }
    }

    /// <summary>The command line says it in one line naming --threads, with the usage exit code (64).</summary>
    [Fact]
    public void Cli_refuses_a_thread_count_beyond_the_bound_in_one_line()
    {
        var (code, stdout, stderr) = CliProcess.Run(null, "generate", SharedData.TinyGenaiModelDir, "--prompt", "hi", "--threads", "100000");
        Assert.Equal(64, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("onnxsteer: error: --threads 100000: must be between 0 and ", line);
    }

    /// <summary>
    /// Under one CPU (DOTNET_PROCESSOR_COUNT=1, or an affinity mask of CPU 0 by taskset) the server admits one generation
    /// at once and gives onnxruntime-genai one thread. Before, ONNX Runtime's count read the affinity mask itself and
    /// ignored DOTNET_PROCESSOR_COUNT while admission followed it, so the two disagreed.
    /// </summary>
    [Theory]
    [InlineData("DOTNET_PROCESSOR_COUNT")]
    [InlineData("taskset")]
    public async Task Server_admission_and_runtime_threads_follow_one_count(string limit)
    {
        var taskset = new[] { "/usr/bin/taskset", "/bin/taskset" }.FirstOrDefault(File.Exists);
        if (limit == "taskset" && (taskset is null || !OperatingSystem.IsLinux())) return; // nothing to limit with here
        string[] serve = ["serve", SharedData.TinyGenaiModelDir, "--port", "0"];
        var psi = CliProcess.StartInfo(serve);
        if (limit == "taskset")
        {
            psi.ArgumentList.Insert(0, psi.FileName);
            foreach (var a in new[] { "0", "-c" }) psi.ArgumentList.Insert(0, a);
            psi.FileName = taskset!;
        }
        else psi.Environment["DOTNET_PROCESSOR_COUNT"] = "1";
        using var process = Process.Start(psi)!;
        var listening = new TaskCompletionSource<string>();
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) { listening.TrySetResult(""); return; }
            lock (stderr) stderr.AppendLine(e.Data);
            if (e.Data.Contains("listening on ", StringComparison.Ordinal)) listening.TrySetResult(e.Data);
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            var line = await listening.Task.WaitAsync(TimeSpan.FromSeconds(90));
            Assert.True(line.Length > 0, $"serve ended without listening:\n{stderr}");
            Assert.Contains("; 1 at once,", line);
            Assert.Contains(", 1 thread(s) each)", line);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
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
