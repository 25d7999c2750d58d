using OnnxSteer.ModelFiles;
using OnnxSteer.Pairs;
using OnnxSteer.ProfileRuns;
using OnnxSteer.Recording;
using OnnxSteer.Runtime;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Recording;

public class MemoryEstimateTests
{
    [SharedFact]
    public void The_estimate_counts_the_fp16_weights_twice_on_the_cpu_and_once_on_cuda()
    {
        var model = OnnxModel.Load(SharedData.TinyGenaiModelDir);
        // Independent count: the fp16 initializers' element counts × 2 bytes, straight from their dims.
        var half = model.Graph.Initializer.Where(t => t.DataType == (int)Onnx.TensorProto.Types.DataType.Float16)
            .Sum(t => t.Dims.Aggregate(1L, (a, d) => a * d) * 2);
        Assert.True(half > 1_000_000, $"{half} bytes of fp16 weights");
        var cpu = MemoryEstimate.For(model, ExecutionDevice.Cpu);
        var cuda = MemoryEstimate.For(model, ExecutionDevice.Cuda);
        // The estimate also counts Constant-node tensors (a few bytes here): equal to the initializers' within 1 KB.
        Assert.InRange(cpu.HalfBytes, half, half + 1024);
        Assert.Equal((long)(MemoryEstimate.CpuHalfFactor * cpu.HalfBytes + MemoryEstimate.OtherFactor * cpu.OtherBytes) + MemoryEstimate.Overhead, cpu.HostBytes);
        Assert.True(cuda.DeviceBytes < cpu.HostBytes, "fp16 stays fp16 on the GPU");
        Assert.StartsWith("memory: about ", cpu.Describe(8_000_000_000));
        Assert.Contains("computed in fp32 on the CPU", cpu.Describe(null));
        Assert.True(cpu.Exceeds(cpu.HostBytes - 1));
        Assert.False(cpu.Exceeds(cpu.HostBytes));
        Assert.False(cpu.Exceeds(null));
        Assert.True(MemoryEstimate.Available() is null or > 0);
    }

    [SharedFact]
    public void Profile_refuses_before_reading_weights_when_the_estimate_exceeds_the_memory_available()
    {
        var pairs = new PairSet([new ContrastivePair("Once upon a time", " yes", " no", "test:1")], 0, "test", []);
        var notices = new List<string>();
        var request = new ProfileRequest
        { ModelPath = SharedData.TinyGenaiModelDir, Pairs = pairs, Settings = new ProfileSettings { MemoryAvailable = 1_000_000, Runtime = RuntimeSettings.Default with { Notice = n => notices.Add(n.ToString()) } } };
        var e = Assert.Throws<OnnxSteerException>(() => ProfileRunner.Run(request));
        Assert.Equal(ExitCodes.Failure, ErrorReporter.ExitCode(e));
        Assert.Contains("--device cuda", ErrorReporter.Message(e));
        Assert.EndsWith("--ignore-memory-estimate tries anyway", ErrorReporter.Message(e));
        Assert.Single(notices, n => n.StartsWith("memory: about ", StringComparison.Ordinal));

        var profile = ProfileRunner.Run(request with { Settings = request.Settings with { IgnoreMemoryEstimate = true } });
        Assert.Equal(1, profile.Pairs);
    }
}
