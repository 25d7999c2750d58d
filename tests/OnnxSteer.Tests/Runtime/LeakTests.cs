using System.Diagnostics;
using OnnxSteer.Runtime;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Runtime;

[CollectionDefinition(nameof(LeakTestsCollection), DisableParallelization = true)]
public sealed class LeakTestsCollection;

/// <summary>
/// Handle leaks: 1000 session runs and 200 session create/dispose cycles must leave the number of live ORT objects
/// where it started and resident memory flat. Runs alone (no parallel tests) so the counts are this test's own.
/// </summary>
[Collection(nameof(LeakTestsCollection))]
public partial class LeakTests(ITestOutputHelper output)
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    // Each run's output is 64 Ki floats = 256 KiB, so leaking the outputs of 1000 runs would add 250 MiB against a
    // tolerance of 16 MiB (measured: under 0.3 MiB). Session cycles: the exact check is the live-object count; RSS is
    // a coarse one, because ONNX Runtime itself grows by ~13 MiB over its first few hundred session creations and then
    // stays flat (measured with a C program making the same API calls), so 100 cycles get the same 16 MiB tolerance
    // (measured: 2-4 MiB).
    private const int Elements = 64 * 1024;
    private const int Cycles = 100;
    private const long ToleranceBytes = 16L * 1024 * 1024;

    [Fact]
    public void ThousandRuns_KeepHandlesAndMemoryFlat()
    {
        var path = TinyModels.WriteTemp(TinyModels.Double());
        try
        {
            using var session = new InferenceSession(path);
            var data = Enumerable.Range(0, Elements).Select(i => (float)i).ToArray();
            using var x = OrtValue.CreateTensorValueFromMemory(data, [Elements]);
            var inputs = new Dictionary<string, OrtValue> { ["X"] = x };
            void RunOnce(int i)
            {
                using var y = session.Run(inputs);
                var span = y[0].GetTensorDataAsSpan<float>();
                if (span[i % Elements] != 2f * (i % Elements)) throw new Exception($"run {i}: wrong output");
            }
            for (var i = 0; i < 100; i++) RunOnce(i); // warm-up: arena and JIT reach steady state
            var (handles0, rss0) = Measure();
            for (var i = 0; i < 1000; i++) RunOnce(i);
            var (handles1, rss1) = Measure();
            output.WriteLine($"1000 runs: live ORT objects {handles0} -> {handles1}, RSS {rss0 / 1024} KiB -> {rss1 / 1024} KiB ({(rss1 - rss0) / 1024} KiB)");
            Assert.Equal(handles0, handles1);
            Assert.True(rss1 - rss0 < ToleranceBytes, $"RSS grew {(rss1 - rss0) / 1024} KiB over 1000 runs (tolerance {ToleranceBytes / 1024} KiB)");
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void SessionCreateDisposeCycles_KeepHandlesAndMemoryFlat()
    {
        var model = TinyModels.MatMulAdd();
        void Cycle()
        {
            using var options = new SessionOptions { IntraOpNumThreads = 1 };
            using var session = new InferenceSession(model, options);
            using var a = OrtValue.CreateTensorValueFromMemory(new float[3], [1, 3]);
            using var b = OrtValue.CreateTensorValueFromMemory(new float[12], [3, 4]);
            using var c = OrtValue.CreateTensorValueFromMemory(new float[] { 1, 2, 3, 4 }, [4]);
            using var y = session.Run(new Dictionary<string, OrtValue> { ["A"] = a, ["B"] = b, ["C"] = c });
            if (y[0].GetTensorDataAsSpan<float>()[3] != 4f) throw new Exception("wrong output");
        }
        for (var i = 0; i < 20; i++) Cycle();
        var (handles0, rss0) = Measure();
        for (var i = 0; i < Cycles; i++) Cycle();
        var (handles1, rss1) = Measure();
        output.WriteLine($"{Cycles} session cycles: live ORT objects {handles0} -> {handles1}, RSS {rss0 / 1024} KiB -> {rss1 / 1024} KiB ({(rss1 - rss0) / 1024} KiB)");
        Assert.Equal(handles0, handles1);
        Assert.True(rss1 - rss0 < ToleranceBytes, $"RSS grew {(rss1 - rss0) / 1024} KiB over {Cycles} session cycles (tolerance {ToleranceBytes / 1024} KiB)");
    }

    [Fact]
    public void UndisposedValues_AreReleasedByTheFinalizer()
    {
        _ = OrtEnv.Instance;
        var before = OrtSafeHandle.LiveCount;
        CreateAndDrop();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.Equal(before, OrtSafeHandle.LiveCount);

        static void CreateAndDrop()
        {
            for (var i = 0; i < 50; i++) _ = OrtValue.CreateTensorValueFromMemory(new float[16], [16]);
        }
    }

    private static (long Handles, long Rss) Measure()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        if (OperatingSystem.IsLinux()) MallocTrim(0); // give freed native pages back so RSS counts live memory, not free lists
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return (OrtSafeHandle.LiveCount, p.WorkingSet64);
    }
}
