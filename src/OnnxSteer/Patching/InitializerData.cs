using Onnx;

namespace OnnxSteer.Patching;

/// <summary>
/// Reads an initializer's bytes (raw_data, typed fields, or external data relative to the model's folder) as
/// little-endian raw data, for folding.
/// </summary>
internal sealed class InitializerData(string baseDirectory, string source)
{
    public byte[] ReadRaw(TensorProto tensor)
    {
        if (tensor.DataLocation == TensorProto.Types.DataLocation.External || tensor.ExternalData.Count > 0)
            return ReadExternal(tensor);
        if (tensor.HasRawData) return tensor.RawData.ToByteArray();
        switch (tensor.DataType)
        {
            case (int)TensorProto.Types.DataType.Float:
            {
                var bytes = new byte[tensor.FloatData.Count * 4];
                for (var i = 0; i < tensor.FloatData.Count; i++)
                    System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), tensor.FloatData[i]);
                return bytes;
            }
            case (int)TensorProto.Types.DataType.Float16 or (int)TensorProto.Types.DataType.Bfloat16 or (int)TensorProto.Types.DataType.Uint8:
            {
                // ONNX stores 16- and 8-bit values one per int32_data entry.
                var size = tensor.DataType == (int)TensorProto.Types.DataType.Uint8 ? 1 : 2;
                var bytes = new byte[tensor.Int32Data.Count * size];
                for (var i = 0; i < tensor.Int32Data.Count; i++)
                {
                    bytes[i * size] = (byte)tensor.Int32Data[i];
                    if (size == 2) bytes[i * size + 1] = (byte)(tensor.Int32Data[i] >> 8);
                }
                return bytes;
            }
            default:
                throw new InvalidModelException($"{source}: initializer '{tensor.Name}' has element type {ElementEncoding.Name(tensor.DataType)} with no raw data");
        }
    }

    private byte[] ReadExternal(TensorProto tensor)
    {
        string? location = null;
        long offset = 0, length = -1;
        foreach (var e in tensor.ExternalData)
        {
            switch (e.Key)
            {
                case "location": location = e.Value; break;
                case "offset": offset = long.Parse(e.Value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "length": length = long.Parse(e.Value, System.Globalization.CultureInfo.InvariantCulture); break;
            }
        }
        if (string.IsNullOrEmpty(location)) throw new InvalidModelException($"{source}: initializer '{tensor.Name}' has external data without a location");
        var root = Path.GetFullPath(baseDirectory);
        var path = Path.GetFullPath(Path.Combine(root, location));
        if (Path.IsPathRooted(location) || !path.StartsWith(root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new InvalidModelException($"{source}: initializer '{tensor.Name}' external data '{location}' lies outside the model's folder");
        if (!File.Exists(path)) throw new InvalidModelException($"{source}: initializer '{tensor.Name}': external data file '{location}' is missing");
        using var stream = File.OpenRead(path);
        if (length < 0) length = stream.Length - offset;
        if (offset < 0 || offset + length > stream.Length)
            throw new InvalidModelException($"{source}: initializer '{tensor.Name}': external data range {offset}+{length} is beyond the end of '{location}'");
        var bytes = new byte[length];
        stream.Position = offset;
        stream.ReadExactly(bytes);
        return bytes;
    }
}
