using System.Diagnostics;
using OnnxSteer.Runtime;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Runtime;

[CollectionDefinition(nameof(LeakTestsCollection), DisableParallelization = true)]
public sealed class LeakTestsCollection;

/// <summary>
/// Leaks through OnnxSteer's run helpers (RunNamed, RunBound, RunOutputs.Detach): 1000 runs of each and 100 session
/// create/dispose cycles must leave resident memory flat. Runs alone (no parallel tests) so the memory is this test's own.
/// </summary>
[Collection(nameof(LeakTestsCollection))]
public partial class LeakTests(ITestOutputHelper output)
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    // Each run's output is 64 Ki floats = 256 KiB, so leaking the outputs of 1000 runs would add 250 MiB against a
    // tolerance of 16 MiB. Session cycles: ONNX Runtime itself grows by ~13 MiB over its first few hundred session
    // creations and then stays flat, so 100 cycles get the same 16 MiB tolerance.
    private const int Elements = 64 * 1024;
    private const int Cycles = 100;
    private const long ToleranceBytes = 16L * 1024 * 1024;

    [Fact]
    public void ThousandRuns_ByNameAndBound_KeepMemoryFlat()
    {
        var path = TinyModels.WriteTemp(TinyModels.Double());
        try
        {
            using var session = RuntimeSettings.Default.OpenSession(path);
            var data = Enumerable.Range(0, Elements).Select(i => (float)i).ToArray();
            using var x = OrtValue.CreateTensorValueFromMemory(data, [Elements]);
            var inputs = new Dictionary<string, OrtValue> { ["X"] = x };
            void Check(OrtValue y, int i)
            {
                if (y.GetTensorDataAsSpan<float>()[i % Elements] != 2f * (i % Elements)) throw new Exception($"run {i}: wrong output");
            }
            void RunOnce(int i)
            {
                using (var y = session.RunNamed(inputs)) Check(y[0], i);
                using var binding = session.CreateIoBinding();
                binding.BindInput("X", x);
                binding.BindOutputToDevice("Y", OrtMemoryInfo.DefaultInstance);
                using var bound = session.RunBound(binding, ["Y"]);
                using var kept = bound.Detach("Y"); // the KV-cache path: a detached output is owned by the caller
                Check(kept, i);
            }
            for (var i = 0; i < 100; i++) RunOnce(i); // warm-up: arena and JIT reach steady state
            var rss0 = Measure();
            for (var i = 0; i < 1000; i++) RunOnce(i);
            var rss1 = Measure();
            output.WriteLine($"1000 runs (by name + bound): RSS {rss0 / 1024} KiB -> {rss1 / 1024} KiB ({(rss1 - rss0) / 1024} KiB)");
            Assert.True(rss1 - rss0 < ToleranceBytes, $"RSS grew {(rss1 - rss0) / 1024} KiB over 1000 runs (tolerance {ToleranceBytes / 1024} KiB)");
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void SessionCreateDisposeCycles_KeepMemoryFlat()
    {
        var model = TinyModels.MatMulAdd();
        var settings = new RuntimeSettings { Threads = 1 };
        void Cycle()
        {
            using var session = settings.OpenSession(model);
            using var a = OrtValue.CreateTensorValueFromMemory(new float[3], [1, 3]);
            using var b = OrtValue.CreateTensorValueFromMemory(new float[12], [3, 4]);
            using var c = OrtValue.CreateTensorValueFromMemory(new float[] { 1, 2, 3, 4 }, [4]);
            using var y = session.RunNamed(new Dictionary<string, OrtValue> { ["A"] = a, ["B"] = b, ["C"] = c });
            if (y[0].GetTensorDataAsSpan<float>()[3] != 4f) throw new Exception("wrong output");
        }
        for (var i = 0; i < 20; i++) Cycle();
        var rss0 = Measure();
        for (var i = 0; i < Cycles; i++) Cycle();
        var rss1 = Measure();
        output.WriteLine($"{Cycles} session cycles: RSS {rss0 / 1024} KiB -> {rss1 / 1024} KiB ({(rss1 - rss0) / 1024} KiB)");
        Assert.True(rss1 - rss0 < ToleranceBytes, $"RSS grew {(rss1 - rss0) / 1024} KiB over {Cycles} session cycles (tolerance {ToleranceBytes / 1024} KiB)");
    }

    private static long Measure()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        if (OperatingSystem.IsLinux()) MallocTrim(0); // give freed native pages back so RSS counts live memory, not free lists
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64;
    }
}
