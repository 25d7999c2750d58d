using Microsoft.ML.OnnxRuntime;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Runtime;

/// <summary>
/// How to run models: which ONNX Runtime library, which device, how many threads. The CLI's shared options
/// (<c>--ort-library --device --device-id --threads</c>) produce one; library users may build it directly.
/// </summary>
public sealed record RuntimeSettings
{
    /// <summary>Session config key: the folder external-data locations are relative to, for sessions made from bytes.</summary>
    internal const string ExternalInitializersFolderKey = "session.model_external_initializers_file_folder_path";

    /// <summary>The environment variable naming the ONNX Runtime library when <see cref="LibraryPath"/> is null.</summary>
    public const string LibraryPathVariable = OrtLibrary.EnvironmentVariable;

    /// <summary>ONNX Runtime library file or folder; null = $ONNXSTEER_ORT_LIBRARY, else the one from NuGet.</summary>
    public string? LibraryPath { get; init; }

    /// <summary>Device to run on.</summary>
    public ExecutionDevice Device { get; init; } = ExecutionDevice.Cpu;

    /// <summary>CUDA device ordinal.</summary>
    public int DeviceId { get; init; }

    /// <summary>Intra-op threads; 0 = the CPUs this process may use (affinity mask and cgroup CPU quota).</summary>
    public int Threads { get; init; }

    /// <summary>
    /// The CPUs this process may use, the one count behind every default that scales with the machine (ONNX Runtime's
    /// intra-op threads here and in onnxruntime-genai, the server's generations at once): <see cref="Environment.ProcessorCount"/>,
    /// which .NET lowers to the affinity mask (<c>taskset</c>) and to the cgroup CPU quota (rounded up), and which
    /// DOTNET_PROCESSOR_COUNT overrides. ONNX Runtime's own default (one thread per physical core as it detects them)
    /// gave one thread on a 2-vCPU VM.
    /// </summary>
    public static int UsableCpus => Environment.ProcessorCount;

    /// <summary>The intra-op threads sessions get: <see cref="Threads"/>, or <see cref="UsableCpus"/> when it is 0.</summary>
    public int IntraOpThreads => Threads > 0 ? Threads : UsableCpus;

    /// <summary>
    /// A genai_config.json overlay giving onnxruntime-genai's decoder session <see cref="IntraOpThreads"/> threads (genai
    /// otherwise takes them from the folder's config, where exports rarely set any, and ONNX Runtime's own default then
    /// used one thread on a 2-vCPU VM).
    /// </summary>
    internal string GenaiConfigOverlay()
    {
        CheckThreads();
        var threads = IntraOpThreads.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return "{\"model\":{\"decoder\":{\"session_options\":{\"intra_op_num_threads\":" + threads + "}}}}";
    }

    /// <summary>
    /// The most intra-op threads a session may ask for: four per usable CPU. More only oversubscribes the cores (each
    /// thread of ONNX Runtime's pool spins waiting for work), and a count far beyond it is a typo that would start thousands of threads.
    /// </summary>
    public static int MaxThreads => 4 * UsableCpus;

    private void CheckThreads()
    {
        if (Threads < 0 || Threads > MaxThreads)
            throw new InvalidParameterException("threads",
                $"{Param("threads")} {Threads}: must be between 0 and {MaxThreads} (0, the default, is the {UsableCpus} CPU(s) this process may use; at most 4 threads per CPU)");
    }

    /// <summary>Graph optimisation level for sessions.</summary>
    public GraphOptimizationLevel OptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>Receives one-line notices (e.g. auto falling back to CPU); null drops them.</summary>
    public Action<WarningText>? Notice { get; init; }

    /// <summary>Defaults: CPU, one thread per usable CPU, the NuGet library.</summary>
    public static RuntimeSettings Default { get; } = new();

    /// <summary>Loads the library (if not yet loaded) and creates session options for these settings.</summary>
    internal SessionOptions CreateSessionOptions() => CreateSessionOptions(out _);

    /// <summary>As <see cref="CreateSessionOptions()"/>, also telling which device the options run on (auto resolved).</summary>
    internal SessionOptions CreateSessionOptions(out ExecutionDevice device)
    {
        if (DeviceId < 0) throw new InvalidParameterException("deviceId", $"{Param("deviceId")} {DeviceId}: must be 0 or more");
        CheckThreads();
        OrtLibrary.Configure(LibraryPath);
        OrtLibrary.EnsureLoaded();
        var options = new SessionOptions();
        try
        {
            options.LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;
            options.IntraOpNumThreads = IntraOpThreads;
            options.GraphOptimizationLevel = OptimizationLevel;
            device = ExecutionProviders.Apply(options, Device, DeviceId, Notice);
            return options;
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }

    /// <summary>Opens a session on <paramref name="modelPath"/> with these settings; its external data is read relative to the model's folder.</summary>
    internal InferenceSession OpenSession(string modelPath) => OpenSession(modelPath, out _);

    /// <summary>As <see cref="OpenSession(string)"/>, also telling which device the session runs on.</summary>
    internal InferenceSession OpenSession(string modelPath, out ExecutionDevice device)
    {
        var full = Path.GetFullPath(modelPath);
        if (!File.Exists(full)) throw new InvalidModelException($"{modelPath}: no such model file");
        using var options = CreateSessionOptions(out device);
        return OrtException.Wrap(() => new InferenceSession(full, options), modelPath);
    }

    /// <summary>
    /// Opens a model from bytes. When it has external data, <paramref name="externalDataFolder"/> names the folder its
    /// locations are relative to.
    /// </summary>
    internal InferenceSession OpenSession(byte[] model, string? externalDataFolder, out ExecutionDevice device, string source = "(model bytes)")
    {
        using var options = CreateSessionOptions(out device);
        if (externalDataFolder is not null)
            options.AddSessionConfigEntry(ExternalInitializersFolderKey, Path.GetFullPath(externalDataFolder));
        return OrtException.Wrap(() => new InferenceSession(model, options), source);
    }

    /// <summary>As the overload above, for callers that do not need the device.</summary>
    internal InferenceSession OpenSession(byte[] model, string? externalDataFolder = null) => OpenSession(model, externalDataFolder, out _);
}
