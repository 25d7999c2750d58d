namespace OnnxSteer.Tests.Infrastructure;

/// <summary>Finds the repository root and the ../shared folder beside it (real models and data).</summary>
public static class SharedData
{
    /// <summary>The repository root (the folder holding OnnxSteer.sln).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The shared folder: $ONNXSTEER_SHARED when set (null when that is not a folder), else ../shared beside the
    /// repository root; null when absent.</summary>
    public static string? Root { get; } = FindShared();

    public static bool Available => Root is not null;

    /// <summary>A path under ../shared; throws when it is absent (reached under CI=true, where tests needing it are not
    /// skipped, so that CI fails without its data).</summary>
    public static string Path(params string[] parts) =>
        System.IO.Path.Combine([Root ?? throw new InvalidOperationException(
            "../shared (real models and data) is absent beside the repository root, and CI=true does not skip the tests that need it"), .. parts]);

    public static string TinyGenaiModelDir => Path("models", "tiny-random-llama-genai-fp16");
    public static string Stories260KDir => Path("models", "stories260K");

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "OnnxSteer.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find OnnxSteer.sln above " + AppContext.BaseDirectory);
    }

    private static string? FindShared()
    {
        // Set but not a folder means "none": ONNXSTEER_SHARED=/nonexistent runs the suite as a machine without ../shared.
        var env = Environment.GetEnvironmentVariable("ONNXSTEER_SHARED");
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? System.IO.Path.GetFullPath(env) : null;
        var beside = System.IO.Path.GetFullPath(System.IO.Path.Combine(RepoRoot, "..", "shared"));
        return Directory.Exists(System.IO.Path.Combine(beside, "models")) ? beside : null;
    }
}
