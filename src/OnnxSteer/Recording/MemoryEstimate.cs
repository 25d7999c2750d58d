using System.Globalization;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Runtime;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Recording;

/// <summary>
/// A rough figure, before any weight is read, of the memory a profiling (or generation) session needs on a device, from
/// the model's weight bytes by type. Calibrated on this project's synthetic Llamas (bench/results.md, "Memory"):
/// ONNX Runtime's CPU provider computes fp16/bf16 models in fp32, so it holds a converted copy, about
/// <see cref="CpuHalfFactor"/>× the 16-bit weights in all (1.9 GB fp16 → 4.2 GB peak RSS; 12.6 GiB → 24.3 GB);
/// fp32 and 4-bit (MatMulNBits) weights are held about once. On CUDA the weights live in GPU memory once, and the
/// host keeps the runtime and the graph. Activations of a batch are small beside the weights at the default batch
/// size and context and are covered by the fixed overhead.
/// </summary>
internal sealed record MemoryEstimate(ExecutionDevice Device, long HalfBytes, long OtherBytes, long HostBytes, long DeviceBytes)
{
    /// <summary>Peak host memory per byte of fp16/bf16 weights on the CPU provider.</summary>
    public const double CpuHalfFactor = 2.2;
    /// <summary>Peak host memory per byte of other weights (fp32, int8, 4-bit blocks and their scales).</summary>
    public const double OtherFactor = 1.1;
    /// <summary>Runtime, .NET, graph and a batch's activations.</summary>
    public const long Overhead = 256L << 20;

    /// <summary>The estimate for <paramref name="model"/> (its initializers, inline or external) on <paramref name="device"/>.</summary>
    public static MemoryEstimate For(OnnxModel model, ExecutionDevice device)
    {
        long half = 0, other = 0;
        foreach (var slot in TensorWalker.All(model.Proto))
        {
            var bytes = TensorData.ByteSize(slot.Tensor);
            if (slot.Tensor.DataType is (int)TensorProto.Types.DataType.Float16 or (int)TensorProto.Types.DataType.Bfloat16) half += bytes;
            else other += bytes;
        }
        return device == ExecutionDevice.Cpu
            ? new MemoryEstimate(device, half, other, (long)(CpuHalfFactor * half + OtherFactor * other) + Overhead, 0)
            : new MemoryEstimate(device, half, other, Overhead * 2, (long)(OtherFactor * (half + other)) + Overhead);
    }

    /// <summary>Memory this process may still take: MemAvailable, lowered to the cgroup's limit when there is one; null where unknown.</summary>
    public static long? Available()
    {
        long? available = null;
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                    available = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            var max = File.Exists("/sys/fs/cgroup/memory.max") ? File.ReadAllText("/sys/fs/cgroup/memory.max").Trim() : "max";
            if (max != "max" && File.Exists("/sys/fs/cgroup/memory.current"))
            {
                var room = long.Parse(max, CultureInfo.InvariantCulture) - long.Parse(File.ReadAllText("/sys/fs/cgroup/memory.current").Trim(), CultureInfo.InvariantCulture);
                available = available is { } a ? Math.Min(a, room) : room;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or OverflowException or IndexOutOfRangeException) { }
        return available;
    }

    /// <summary>True when the host figure exceeds <paramref name="available"/> (unknown availability never exceeds).</summary>
    public bool Exceeds(long? available) => available is { } a && HostBytes > a;

    /// <summary>The one line: what is needed where, and what it is made of.</summary>
    public string Describe(long? available)
    {
        var weights = HalfBytes > 0 ? $"{Gb(HalfBytes)} of fp16/bf16 weights{(Device == ExecutionDevice.Cpu ? ", computed in fp32 on the CPU" : "")}" : "";
        if (OtherBytes > 0) weights += (weights.Length > 0 ? " + " : "") + $"{Gb(OtherBytes)} of other weights";
        var room = available is { } a ? $"; {Gb(a)} available" : "";
        return Device == ExecutionDevice.Cpu
            ? $"memory: about {Gb(HostBytes)} on the CPU ({weights}){room}"
            : $"memory: about {Gb(DeviceBytes)} of GPU memory and {Gb(HostBytes)} on the host ({weights}){room}";
    }

    /// <summary>What to do instead when the run does not fit.</summary>
    public ErrorText Advice()
    {
        // Each branch is its own ErrorText: a conditional of interpolated strings would be a plain string.
        if (Device == ExecutionDevice.Cpu && HalfBytes > 0)
            return $"use {Param("device")} cuda (fp16 weights stay fp16 on the GPU), or an int4 export (about a quarter of the fp16 size, held once); fewer sites do not help, the session holds every layer";
        return $"use a machine with more memory, {Param("device")} cuda, or an int4 export; fewer sites do not help, the session holds every layer";
    }

    private static string Gb(long bytes) => (bytes / 1e9).ToString(bytes < 10e9 ? "0.0" : "0", CultureInfo.InvariantCulture) + " GB";
}
