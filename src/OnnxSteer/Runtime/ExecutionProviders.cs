namespace OnnxSteer.Runtime;

/// <summary>Which hardware sessions run on.</summary>
public enum ExecutionDevice
{
    /// <summary>ONNX Runtime's CPU execution provider.</summary>
    Cpu,
    /// <summary>The CUDA execution provider; fails with a clear message when its libraries cannot load.</summary>
    Cuda,
    /// <summary>CUDA when it loads, otherwise CPU (with a one-line notice).</summary>
    Auto,
}

/// <summary>Appends execution providers to session options according to an <see cref="ExecutionDevice"/>.</summary>
public static class ExecutionProviders
{
    /// <summary>The provider libraries an ONNX Runtime GPU build keeps beside libonnxruntime.so.1.</summary>
    public static readonly IReadOnlyList<string> CudaProviderLibraries = ["libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"];

    private static string? _cudaFailure; // cached so that auto mode tries (and reports) a missing CUDA once per process

    /// <summary>The one-line message for a CUDA provider that cannot be added, with ORT's own reason.</summary>
    public static string CudaUnavailableMessage(string ortMessage) =>
        $"the CUDA execution provider could not be loaded: {Essence(ortMessage)}. "
        + $"It needs {CudaProviderLibraries[0]} and {CudaProviderLibraries[1]} beside {OrtLibrary.LoadedPath ?? "libonnxruntime.so.1"} "
        + "(and CUDA 12 with cuDNN 9 on the host). Point --ort-library or " + OrtLibrary.EnvironmentVariable
        + " at the folder of an ONNX Runtime GPU build (onnxruntime-linux-x64-gpu) holding libonnxruntime.so.1 and those two libraries, or use --device cpu.";

    /// <summary>
    /// Appends the providers for <paramref name="device"/> to <paramref name="options"/> and returns the device actually
    /// used. For <see cref="ExecutionDevice.Auto"/> a CUDA failure sends one line to <paramref name="notice"/> and falls back
    /// to CPU; for <see cref="ExecutionDevice.Cuda"/> it throws <see cref="ExecutionProviderUnavailableException"/>.
    /// </summary>
    public static ExecutionDevice Apply(SessionOptions options, ExecutionDevice device, int deviceId, Action<string>? notice = null)
    {
        switch (device)
        {
            case ExecutionDevice.Cpu:
                return ExecutionDevice.Cpu;
            case ExecutionDevice.Cuda:
                options.AppendExecutionProvider_CUDA(deviceId);
                return ExecutionDevice.Cuda;
            case ExecutionDevice.Auto:
                if (_cudaFailure is null)
                {
                    // Try on a scratch copy so a half-appended provider cannot linger in the caller's options.
                    using var probe = options.Clone();
                    try
                    {
                        probe.AppendExecutionProvider_CUDA(deviceId);
                        options.AppendExecutionProvider_CUDA(deviceId);
                        return ExecutionDevice.Cuda;
                    }
                    catch (ExecutionProviderUnavailableException e)
                    {
                        _cudaFailure = (e.InnerException as OrtException)?.OrtMessage ?? e.Message;
                        notice?.Invoke($"onnxsteer: notice: CUDA is not available ({Shorten(Essence(_cudaFailure), 200)}); running on CPU.");
                    }
                }
                return ExecutionDevice.Cpu;
            default:
                throw new ArgumentOutOfRangeException(nameof(device));
        }
    }

    /// <summary>Parses "cpu", "cuda" or "auto" (case-insensitive).</summary>
    public static ExecutionDevice ParseDevice(string text) => text.Trim().ToLowerInvariant() switch
    {
        "cpu" => ExecutionDevice.Cpu,
        "cuda" or "gpu" => ExecutionDevice.Cuda,
        "auto" => ExecutionDevice.Auto,
        _ => throw new OnnxSteerException($"--device {text}: expected cpu, cuda or auto", ExitCodes.Usage),
    };

    /// <summary>ORT's message without its source-location prefix ("/path/file.cc:123 fn [ONNXRuntimeError] : 1 : FAIL : "), on one line.</summary>
    internal static string Essence(string ortMessage)
    {
        var text = ortMessage.Trim().ReplaceLineEndings(" ");
        var match = System.Text.RegularExpressions.Regex.Match(text, @"\[ONNXRuntimeError\] : \d+ : \w+ : ");
        return (match.Success ? text[(match.Index + match.Length)..] : text).TrimEnd('.');
    }

    private static string Shorten(string s, int max) => s.Length > max ? s[..max] + "…" : s;
}
