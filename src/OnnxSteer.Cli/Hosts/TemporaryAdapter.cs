namespace OnnxSteer.Cli.Hosts;

/// <summary>An .onnx_adapter written to a temporary file for one run and deleted on dispose.</summary>
public sealed class TemporaryAdapter : IDisposable
{
    private TemporaryAdapter(string path) => Path = path;

    /// <summary>The adapter file.</summary>
    public string Path { get; }

    /// <summary>An adapter that sets the strength of the switchable model at <paramref name="modelPath"/>.</summary>
    public static TemporaryAdapter ForStrength(string modelPath, float strength)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"onnxsteer-strength-{Guid.NewGuid():N}.onnx_adapter");
        StrengthOption.WriteAdapter(modelPath, strength, path);
        return new TemporaryAdapter(path);
    }

    public void Dispose()
    {
        try { File.Delete(Path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
