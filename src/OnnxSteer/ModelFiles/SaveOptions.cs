namespace OnnxSteer.ModelFiles;

/// <summary>How <see cref="OnnxModel.Save"/> stores weights.</summary>
public sealed record SaveOptions
{
    /// <summary>The ONNX tools' default: tensors smaller than 1 KiB stay inline even when saving external data.</summary>
    public const long DefaultSizeThreshold = 1024;

    /// <summary>The default <see cref="Alignment"/>: 4 KiB, a page.</summary>
    public const long DefaultAlignment = ExternalDataWriter.DefaultAlignment;

    /// <summary>Name of the one external data file, relative to the model's folder; null keeps every weight inline.</summary>
    public string? ExternalDataFile { get; init; }

    /// <summary>Initializers of at least this many bytes go to the data file; smaller ones stay inline.</summary>
    public long SizeThreshold { get; init; } = DefaultSizeThreshold;

    /// <summary>Every external tensor starts at a multiple of this many bytes.</summary>
    public long Alignment { get; init; } = DefaultAlignment;

    /// <summary>All weights inside the model file (which protobuf limits to 2 GB).</summary>
    public static SaveOptions Inline { get; } = new();

    /// <summary>Weights of at least <paramref name="threshold"/> bytes in <paramref name="dataFile"/>.</summary>
    public static SaveOptions External(string dataFile, long threshold = DefaultSizeThreshold, long alignment = DefaultAlignment) =>
        new() { ExternalDataFile = dataFile, SizeThreshold = threshold, Alignment = alignment };
}

/// <summary>What a save wrote.</summary>
/// <param name="ModelFile">Full path of the model file.</param>
/// <param name="DataFile">Full path of the external data file, or null when none was written.</param>
/// <param name="ExternalTensors">Tensors stored in the data file.</param>
/// <param name="ExternalBytes">Size of the data file in bytes (padding included).</param>
/// <param name="ModelBytes">Size of the model file in bytes.</param>
public sealed record SaveResult(string ModelFile, string? DataFile, int ExternalTensors, long ExternalBytes, long ModelBytes);
