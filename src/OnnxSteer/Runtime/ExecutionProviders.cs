using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using static OnnxSteer.ErrorText;

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
internal static class ExecutionProviders
{
    /// <summary>The provider library of an ONNX Runtime CUDA build, beside libonnxruntime.so (Microsoft.ML.OnnxRuntime.Gpu.Linux ships it).</summary>
    public const string CudaProviderLibrary = "libonnxruntime_providers_cuda.so";

    /// <summary>
    /// What the CUDA provider of ONNX Runtime 1.32 (Microsoft.ML.OnnxRuntime.Gpu.Linux) links against: the CUDA 13 runtime
    /// libraries and the driver's libcuda.so.1 (cuDNN 9 is loaded later, only when an operator needs it).
    /// </summary>
    public static readonly IReadOnlyList<string> CudaHostLibraries =
        ["libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10", "libcuda.so.1"];

    private static string? _cudaFailure; // cached so that auto mode tries (and reports) a missing CUDA once per process

    /// <summary>
    /// The one-line message for a CUDA provider that cannot be added: what is missing (the provider library, i.e. a CPU-only
    /// ONNX Runtime, or the host's CUDA libraries), the fix, and ORT's own reason.
    /// </summary>
    public static ErrorText CudaUnavailableMessage(string ortMessage)
    {
        var reason = Essence(ortMessage);
        // A build without CUDA says so; a CUDA build whose provider libraries are not beside it fails to open one of them
        // ("Failed to load library X/libonnxruntime_providers_shared.so with error: X/…: cannot open shared object file").
        var providerMissing = System.Text.RegularExpressions.Regex.Match(reason, @"Failed to load library (\S*?(libonnxruntime_providers_\w+\.so)) with error: \1: cannot open");
        var absent = providerMissing.Success ? providerMissing.Groups[2].Value
            : reason.Contains("not enabled in this build", StringComparison.OrdinalIgnoreCase)
              || (reason.Contains("Failed to load library " + CudaProviderLibrary, StringComparison.Ordinal) && !ProviderLibraryPresent())
                ? CudaProviderLibrary : null;
        if (absent is not null)
            return $"the CUDA execution provider could not be loaded: this ONNX Runtime ({OrtLibrary.LoadedPath ?? "Microsoft.ML.OnnxRuntime, the CPU build"}) "
                + $"has no {absent}. Use OnnxSteer's CUDA build (ONNX Runtime from Microsoft.ML.OnnxRuntime.Gpu.Linux; see docs/install.md), "
                + $"point {Param("ortLibrary")} at an ONNX Runtime GPU build with its provider libraries beside it, or use {Param("device")} cpu. ORT said: {reason}";
        var missing = CudaHostLibraries.Where(l => !CanLoad(l)).ToList();
        var what = missing.Count == 0
            ? "the CUDA 13 libraries load, but ORT refused the provider (no GPU visible, or a driver too old for CUDA 13?)"
            : $"missing {string.Join(", ", missing)}: " + (missing.SequenceEqual(["libcuda.so.1"])
                ? "the NVIDIA driver"
                : "the CUDA 13 runtime libraries and the NVIDIA driver, whose folders must be on LD_LIBRARY_PATH");
        return $"the CUDA execution provider could not be loaded: {what}. ORT said: {reason}. Use {Param("device")} cpu or auto to run on CPU.";
    }

    private static bool CanLoad(string library)
    {
        if (!NativeLibrary.TryLoad(library, out var handle)) return false;
        NativeLibrary.Free(handle);
        return true;
    }

    // The provider library sits beside libonnxruntime.so: the folder of --ort-library when one was given, else the NuGet
    // natives folder (runtimes/<rid>/native beside the application).
    private static bool ProviderLibraryPresent()
    {
        string[] folders = OrtLibrary.LoadedPath is { } own
            ? [Path.GetDirectoryName(own)!]
            : [AppContext.BaseDirectory, Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native"),
               Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native")];
        return folders.Any(f => File.Exists(Path.Combine(f, CudaProviderLibrary)));
    }

    /// <summary>Adds the CUDA provider on <paramref name="deviceId"/>; <see cref="ExecutionProviderUnavailableException"/> when it cannot load.</summary>
    public static void AppendCuda(SessionOptions options, int deviceId)
    {
        // The V2 provider options go through OrtApi, which every build has (a CPU build then reports that it cannot load
        // the provider library); the plain overload calls an export that CPU builds lack.
        try
        {
            using var cuda = new OrtCUDAProviderOptions();
            cuda.UpdateOptions(new Dictionary<string, string> { ["device_id"] = deviceId.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            options.AppendExecutionProvider_CUDA(cuda);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ExecutionProviderUnavailableException(CudaUnavailableMessage(e.Message), new OrtException(e));
        }
    }

    /// <summary>
    /// Appends the providers for <paramref name="device"/> to <paramref name="options"/> and returns the device actually
    /// used. For <see cref="ExecutionDevice.Auto"/> a CUDA failure sends one line to <paramref name="notice"/> and falls back
    /// to CPU; for <see cref="ExecutionDevice.Cuda"/> it throws <see cref="ExecutionProviderUnavailableException"/>.
    /// </summary>
    public static ExecutionDevice Apply(SessionOptions options, ExecutionDevice device, int deviceId, Action<WarningText>? notice = null)
    {
        switch (device)
        {
            case ExecutionDevice.Cpu:
                return ExecutionDevice.Cpu;
            case ExecutionDevice.Cuda:
                AppendCuda(options, deviceId);
                return ExecutionDevice.Cuda;
            case ExecutionDevice.Auto:
                if (_cudaFailure is null)
                {
                    // Try on scratch options so a half-appended provider cannot linger in the caller's options.
                    using (var probe = new SessionOptions())
                    {
                        try { AppendCuda(probe, deviceId); }
                        catch (ExecutionProviderUnavailableException e)
                        {
                            _cudaFailure = e.Message;
                            notice?.Invoke($"onnxsteer: notice: CUDA is not available ({Shorten(CudaShortReason(e), 240)}); running on CPU.");
                            return ExecutionDevice.Cpu;
                        }
                    }
                    AppendCuda(options, deviceId);
                    return ExecutionDevice.Cuda;
                }
                return ExecutionDevice.Cpu;
            default:
                throw new ArgumentOutOfRangeException(nameof(device));
        }
    }

    // The notice names what is missing, not the whole fix: "missing libcudart.so.13, …" or "no libonnxruntime_providers_cuda.so".
    private static string CudaShortReason(ExecutionProviderUnavailableException e)
    {
        const string prefix = "the CUDA execution provider could not be loaded: ";
        var text = e.Message.StartsWith(prefix, StringComparison.Ordinal) ? e.Message[prefix.Length..] : e.Message;
        var cut = text.IndexOf(". ", StringComparison.Ordinal);
        return cut > 0 ? text[..cut] : text;
    }

    /// <summary>ORT's message without its source-location prefix ("/path/file.cc:123 fn [ONNXRuntimeError] : 1 : FAIL : "), on one line.</summary>
    internal static string Essence(string ortMessage)
    {
        var text = ortMessage.Trim().ReplaceLineEndings(" ");
        var match = System.Text.RegularExpressions.Regex.Match(text, @"\[ONNXRuntimeError\] : \d+ : \w+ : ");
        text = match.Success ? text[(match.Index + match.Length)..] : text;
        text = System.Text.RegularExpressions.Regex.Replace(text, @"^\[ErrorCode:\w+\] ", "");
        return text.TrimEnd('.');
    }

    private static string Shorten(string s, int max) => s.Length > max ? s[..max] + "…" : s;
}
