using System.Globalization;
using Onnx;

namespace OnnxSteer.ModelFiles;

/// <summary>
/// Where a tensor's bytes live outside the model file: the <c>external_data</c> entries of a TensorProto
/// (<c>location</c>, <c>offset</c>, <c>length</c>, optional <c>checksum</c>), parsed but not yet checked against the disk.
/// </summary>
/// <param name="Location">The data file, relative to the model's folder, as written in the model.</param>
/// <param name="Offset">Byte position of the first byte (0 when the entry is absent).</param>
/// <param name="Length">Number of bytes, or null when the model leaves it out (then the tensor's own size is used).</param>
internal sealed record ExternalDataReference(string Location, long Offset, long? Length)
{
    /// <summary>True when the tensor says its data is external.</summary>
    public static bool IsExternal(TensorProto tensor) =>
        tensor.HasDataLocation && tensor.DataLocation == TensorProto.Types.DataLocation.External;

    /// <summary>Parses the entries of an external tensor; malformed entries raise <see cref="InvalidModelException"/>
    /// naming <paramref name="modelFile"/>.</summary>
    public static ExternalDataReference Parse(TensorProto tensor, string modelFile)
    {
        string? location = null;
        long offset = 0;
        long? length = null;
        foreach (var entry in tensor.ExternalData)
        {
            switch (entry.Key)
            {
                case "location": location = entry.Value; break;
                case "offset": offset = ParseNumber(entry.Value, "offset", tensor, modelFile); break;
                case "length": length = ParseNumber(entry.Value, "length", tensor, modelFile); break;
            }
        }
        if (string.IsNullOrEmpty(location))
            throw new InvalidModelException($"{modelFile}: tensor '{tensor.Name}' is marked external but has no 'location'");
        return new ExternalDataReference(location, offset, length);
    }

    /// <summary>Writes this reference into <paramref name="tensor"/> and marks it external; inline storage is cleared.</summary>
    public void ApplyTo(TensorProto tensor)
    {
        TensorData.ClearStorage(tensor);
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = Location });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = Offset.ToString(CultureInfo.InvariantCulture) });
        if (Length is long len)
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = len.ToString(CultureInfo.InvariantCulture) });
        tensor.DataLocation = TensorProto.Types.DataLocation.External;
    }

    private static long ParseNumber(string text, string key, TensorProto tensor, string modelFile)
    {
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            throw new InvalidModelException($"{modelFile}: tensor '{tensor.Name}' has external-data {key} '{text}', not a non-negative integer");
        return value;
    }
}
