namespace OnnxSteer.ModelFiles;

/// <summary>
/// The security boundary around external data. A model names its data files; a hostile model could name
/// <c>/etc/shadow</c>, <c>../../secret</c>, a link that leads out of its folder, or a device that never ends.
/// Every location is checked here before a byte is read, and refused with <see cref="InvalidModelException"/>
/// naming the model file and the location.
/// </summary>
internal static class ExternalDataGuard
{
    /// <summary>Checks a location's text without touching the disk: relative, no <c>..</c> component, no NUL.</summary>
    public static void CheckLocationText(string location, string modelFile)
    {
        if (string.IsNullOrEmpty(location))
            throw new InvalidModelException($"{modelFile}: external data location is empty");
        if (location.Contains('\0'))
            throw new InvalidModelException($"{modelFile}: external data location '{Printable(location)}' contains a NUL character");
        if (Path.IsPathRooted(location) || location.StartsWith('/') || location.StartsWith('\\')
            || (location.Length >= 2 && location[1] == ':' && char.IsAsciiLetter(location[0])))
            throw new InvalidModelException($"{modelFile}: external data location '{location}' is an absolute path; only paths relative to the model's folder are allowed");
        if (location.Split('/', '\\').Any(part => part == ".."))
            throw new InvalidModelException($"{modelFile}: external data location '{location}' contains '..'; only paths inside the model's folder are allowed");
    }

    /// <summary>
    /// The real path of the data file <paramref name="location"/> names, after checking that it is relative, stays inside
    /// <paramref name="baseDirectory"/> once links are resolved, exists, and is a regular file.
    /// </summary>
    public static string ResolveDataFile(string location, string baseDirectory, string modelFile)
    {
        CheckLocationText(location, modelFile);
        string real, realBase;
        try
        {
            realBase = RealPath.Resolve(baseDirectory);
            real = RealPath.Resolve(Path.Combine(baseDirectory, location));
        }
        catch (IOException e)
        {
            throw new InvalidModelException($"{modelFile}: external data location '{location}' cannot be resolved ({e.Message})", e);
        }
        if (!RealPath.IsInside(real, realBase) || real == realBase)
            throw new InvalidModelException($"{modelFile}: external data location '{location}' resolves to '{real}', outside the model's folder '{realBase}'");
        if (!File.Exists(real) && !Directory.Exists(real))
            throw new InvalidModelException($"{modelFile}: external data file '{location}' does not exist");
        if (!FileKind.IsRegularFile(real))
            throw new InvalidModelException($"{modelFile}: external data location '{location}' is not a regular file (a folder, device, FIFO or socket)");
        return real;
    }

    /// <summary>Refuses a byte range that does not lie inside a data file of <paramref name="fileLength"/> bytes.</summary>
    public static void CheckRange(ExternalDataReference reference, long length, long fileLength, string tensorName, string modelFile)
    {
        if (reference.Offset < 0 || length < 0 || reference.Offset > fileLength || length > fileLength - reference.Offset)
            throw new InvalidModelException(
                $"{modelFile}: tensor '{tensorName}' reads bytes {reference.Offset}..{reference.Offset + length} of external data file '{reference.Location}', which has only {fileLength} bytes");
    }

    private static string Printable(string s) => s.Replace("\0", "\\0");
}

/// <summary>An external tensor's bytes, checked: the real data file, and a range that lies inside it.</summary>
/// <param name="FilePath">Real path of the data file (links resolved, inside the model's folder).</param>
/// <param name="Offset">First byte.</param>
/// <param name="Length">Number of bytes.</param>
internal sealed record ExternalDataSpan(string FilePath, long Offset, long Length)
{
    /// <summary>Checks an external tensor's reference against the disk: safe location, regular file, range inside the
    /// file, and a length that matches the tensor's shape and type.</summary>
    public static ExternalDataSpan Locate(Onnx.TensorProto tensor, string baseDirectory, string modelFile)
    {
        var reference = ExternalDataReference.Parse(tensor, modelFile);
        var path = ExternalDataGuard.ResolveDataFile(reference.Location, baseDirectory, modelFile);
        var expected = TensorData.ByteSize(tensor);
        if (reference.Length is long declared && expected >= 0 && declared != expected)
            throw new InvalidModelException(
                $"{modelFile}: tensor '{tensor.Name}' declares {declared} bytes of external data in '{reference.Location}' but its shape and type need {expected}");
        var length = reference.Length ?? expected;
        if (length < 0)
            throw new InvalidModelException($"{modelFile}: tensor '{tensor.Name}' of type {DataTypes.Name(tensor.DataType)} cannot be stored as external data");
        ExternalDataGuard.CheckRange(reference, length, new FileInfo(path).Length, tensor.Name, modelFile);
        return new ExternalDataSpan(path, reference.Offset, length);
    }
}
