
namespace OnnxSteer.Server;

/// <summary>What <c>onnxsteer serve</c> runs and how it listens.</summary>
public sealed record ServeOptions
{
    /// <summary>The base model folder (with genai_config.json).</summary>
    public required string Model { get; init; }

    /// <summary>Named steering settings: name → profile (.json), control vector (.gguf) or switchable patched folder.</summary>
    public IReadOnlyDictionary<string, string> Profiles { get; init; } = new Dictionary<string, string>();

    /// <summary>The tokenizer (file or folder); null = the model's folder.</summary>
    public string? Tokenizer { get; init; }

    /// <summary>The model id clients name; null = the model folder's name.</summary>
    public string? ModelId { get; init; }

    /// <summary>Address to listen on (an IP address or localhost).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Port; 0 = a free port chosen at start (see <see cref="SteeringServer.BaseAddress"/>).</summary>
    public int Port { get; init; } = 8000;

    /// <summary>Bearer token every request must carry; null = none (allowed on loopback only).</summary>
    public string? ApiKey { get; init; }

    /// <summary>Request limits.</summary>
    public ServeLimits Limits { get; init; } = new();

    /// <summary>Concurrent generations, the queue and the per-request deadline.</summary>
    public AdmissionLimits Admission { get; init; } = new();

    /// <summary>
    /// Most requests one generation may answer together (see <see cref="BatchScheduler"/>: only greedy requests of one
    /// steering setting and prompt length, where the answers equal those run alone); 1 = never batch. genai 0.20 takes 32 at most.
    /// </summary>
    public int MaxBatch { get; init; } = Generation.GenaiHost.MaxBatchRows;

    /// <summary>How long in-flight requests may run on after a stop signal before they are cut.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Stop on SIGTERM / Ctrl+C (the CLI); off for a server embedded in another process (tests).</summary>
    public bool HandleSignals { get; init; }

    /// <summary>Where log lines go (one line per request); null = stderr.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Apply a profile recorded on another model (fingerprint or dtype differ) with a warning, as patch's force.</summary>
    public bool Force { get; init; }
}
