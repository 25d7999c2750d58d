using OnnxSteer.Profiles;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.HostFormats;

/// <summary>The formats <c>onnxsteer export</c> writes.</summary>
internal enum ExportFormat
{
    /// <summary>One row per selected unit (or caa vector entry), comma-separated, with a header line.</summary>
    Csv,
    /// <summary>The same rows in a JSON document (schema onnxsteer.units/1).</summary>
    Json,
    /// <summary>A llama.cpp / repeng control vector (additive mlp-out profiles only).</summary>
    Gguf,
}

/// <summary>Writes a profile's selection in another format (the library side of <c>onnxsteer export</c>).</summary>
internal static class ProfileExport
{
    /// <summary>The format named by <paramref name="format"/> (csv, json, gguf), or else by <paramref name="output"/>'s extension.</summary>
    public static ExportFormat ResolveFormat(string output, string? format)
    {
        var name = format ?? Path.GetExtension(output).TrimStart('.');
        return name.ToLowerInvariant() switch
        {
            "csv" => ExportFormat.Csv,
            "json" => ExportFormat.Json,
            "gguf" => ExportFormat.Gguf,
            _ when format is null => throw new InvalidParameterException("format",
                $"{output}: cannot tell the format from the extension '{Path.GetExtension(output)}'; name the file .csv, .json or .gguf, or give {Param("format")}"),
            _ => throw new InvalidParameterException("format", $"{Param("format")} {format}: expected csv, json or gguf"),
        };
    }

    /// <summary>
    /// Writes <paramref name="profile"/> (loaded from <paramref name="profilePath"/>) to <paramref name="output"/>
    /// atomically; returns a one-line description of what was written.
    /// </summary>
    public static string Write(SteeringProfile profile, string profilePath, string output, ExportFormat format, string? modelHint = null)
    {
        switch (format)
        {
            case ExportFormat.Csv:
            {
                var rows = UnitTable.Rows(profile);
                IO.AtomicFile.WriteAllText(output, UnitTable.ToCsv(rows));
                return $"wrote {output}: {rows.Count} row(s) ({profile.Method.ToName()})";
            }
            case ExportFormat.Json:
            {
                var rows = UnitTable.Rows(profile);
                IO.AtomicFile.WriteAllBytes(output, UnitTable.ToJson(profile, rows));
                return $"wrote {output}: {rows.Count} row(s) ({profile.Method.ToName()})";
            }
            default:
            {
                var vector = ControlVectorProfiles.Export(profile, profilePath, modelHint);
                ControlVectorFile.Write(output, vector, profile.ModelFingerprint);
                return $"wrote {output}: control vector with {vector.Directions.Count} direction(s) of width {vector.Width} " +
                       $"(layers {string.Join(",", vector.Directions.Keys)}), model_hint '{vector.ModelHint}'";
            }
        }
    }
}
