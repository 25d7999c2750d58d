using Xunit;

namespace OnnxSteer.Tests.Infrastructure;

/// <summary>Finds the repository root and the ../shared folder beside it (real models and data).</summary>
public static class SharedData
{
    /// <summary>The repository root (the folder holding OnnxSteer.sln).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The shared folder: $ONNXSTEER_SHARED, else ../shared beside the repository root; null when absent.</summary>
    public static string? Root { get; } = FindShared();

    public static bool Available => Root is not null;

    public static string Path(params string[] parts) =>
        System.IO.Path.Combine([Root ?? throw new InvalidOperationException("../shared is absent"), .. parts]);

    public static string TinyGenaiModelDir => Path("models", "tiny-random-llama-genai-fp16");
    public static string Stories260KDir => Path("models", "stories260K");

    public const string SkipReason = "skipped: ../shared (real models and data) is absent beside the repository root";

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "OnnxSteer.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find OnnxSteer.sln above " + AppContext.BaseDirectory);
    }

    private static string? FindShared()
    {
        var env = Environment.GetEnvironmentVariable("ONNXSTEER_SHARED");
        if (!string.IsNullOrEmpty(env) && Directory.Exists(env)) return System.IO.Path.GetFullPath(env);
        var beside = System.IO.Path.GetFullPath(System.IO.Path.Combine(RepoRoot, "..", "shared"));
        return Directory.Exists(System.IO.Path.Combine(beside, "models")) ? beside : null;
    }
}

/// <summary>A fact that needs ../shared; skipped with a printed reason when it is absent.</summary>
public sealed class SharedFactAttribute : FactAttribute
{
    public SharedFactAttribute()
    {
        if (!SharedData.Available) Skip = SharedData.SkipReason;
    }
}

/// <summary>A theory that needs ../shared; skipped with a printed reason when it is absent.</summary>
public sealed class SharedTheoryAttribute : TheoryAttribute
{
    public SharedTheoryAttribute()
    {
        if (!SharedData.Available) Skip = SharedData.SkipReason;
    }
}
