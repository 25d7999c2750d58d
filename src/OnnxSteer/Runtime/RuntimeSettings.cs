namespace OnnxSteer.Runtime;

/// <summary>
/// How to run models: which ONNX Runtime library, which device, how many threads. The CLI's shared options
/// (<c>--ort-library --device --device-id --threads</c>) produce one; library users may build it directly.
/// </summary>
public sealed record RuntimeSettings
{
    /// <summary>ONNX Runtime library file or folder; null = $ONNXSTEER_ORT_LIBRARY or the default search.</summary>
    public string? LibraryPath { get; init; }

    /// <summary>Device to run on.</summary>
    public ExecutionDevice Device { get; init; } = ExecutionDevice.Cpu;

    /// <summary>CUDA device ordinal.</summary>
    public int DeviceId { get; init; }

    /// <summary>Intra-op threads; 0 = ONNX Runtime's default.</summary>
    public int Threads { get; init; }

    /// <summary>Graph optimisation level for sessions.</summary>
    public GraphOptimizationLevel OptimizationLevel { get; init; } = GraphOptimizationLevel.EnableAll;

    /// <summary>Receives one-line notices (e.g. auto falling back to CPU); null drops them.</summary>
    public Action<string>? Notice { get; init; }

    /// <summary>Defaults: CPU, ORT's default threads, default library search.</summary>
    public static RuntimeSettings Default { get; } = new();

    /// <summary>Loads the library (if not yet loaded) and creates session options for these settings.</summary>
    public SessionOptions CreateSessionOptions()
    {
        if (DeviceId < 0) throw new OnnxSteerException($"--device-id {DeviceId}: must be 0 or more", ExitCodes.Usage);
        if (Threads < 0) throw new OnnxSteerException($"--threads {Threads}: must be 0 (default) or more", ExitCodes.Usage);
        OrtLibrary.Configure(LibraryPath);
        var options = new SessionOptions();
        try
        {
            if (Threads > 0) options.IntraOpNumThreads = Threads;
            options.GraphOptimizationLevel = OptimizationLevel;
            ExecutionProviders.Apply(options, Device, DeviceId, Notice);
            return options;
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }

    /// <summary>Opens a session on <paramref name="modelPath"/> with these settings.</summary>
    public InferenceSession OpenSession(string modelPath)
    {
        using var options = CreateSessionOptions();
        return new InferenceSession(modelPath, options);
    }
}
