namespace OnnxSteer.Cli;

/// <summary>
/// A profile or control vector given where a model belongs: ONNX Runtime would report a protobuf parse error (exit 4,
/// "ONNX Runtime failed"); the first bytes say what the file is, so the error can name the mistake (exit 3).
/// </summary>
internal static class ModelSniff
{
    /// <summary>Refuses a file (not a folder) whose first bytes are JSON or GGUF.</summary>
    public static void RefuseNonOnnx(string path)
    {
        if (!File.Exists(path)) return;
        Span<byte> head = stackalloc byte[4];
        int read;
        using (var stream = File.OpenRead(path)) read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        head = head[..read];
        var what = head.StartsWith("GGUF"u8) ? "a GGUF control vector"
            : head.TrimStart(" \t\r\n"u8).StartsWith("{"u8) ? "a JSON file (a profile?)"
            : null;
        if (what is not null)
            throw new CommandLineException($"{path}: is {what}, not an ONNX model (give a .onnx file or a folder holding model.onnx)", ExitCodes.InvalidInput);
    }
}
