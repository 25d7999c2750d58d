using OnnxSteer.Profiles;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.HostFormats;

/// <summary>The formats <c>onnxsteer export</c> writes.</summary>
public enum ExportFormat
{
    /// <summary>One row per selected unit (or caa vector entry), comma-separated, with a header line.</summary>
    Csv,
    /// <summary>The same rows in a JSON document (schema onnxsteer.units/1).</summary>
    Json,
    /// <summary>A llama.cpp / repeng control vector (additive mlp-out profiles only).</summary>
    Gguf,
}

/// <summary>What <see cref="ProfileExport.Write"/> wrote.</summary>
/// <param name="File">The file written.</param>
/// <param name="Format">Its format.</param>
/// <param name="Rows">CSV and JSON: the rows (one per selected unit, or caa vector entry); GGUF: the directions.</param>
/// <param name="Layers">GGUF: the layers the directions are for; empty for CSV and JSON.</param>
/// <param name="Width">GGUF: the width of each direction (the hidden size); 0 for CSV and JSON.</param>
/// <param name="ModelHint">GGUF: the <c>controlvector.model_hint</c> written; null for CSV and JSON.</param>
public sealed record ProfileExportResult(string File, ExportFormat Format, int Rows, IReadOnlyList<int> Layers, int Width, string? ModelHint);

/// <summary>Writes a profile's selection in another format (the library side of <c>onnxsteer export</c>).</summary>
public static class ProfileExport
{
    /// <summary>The format named by <paramref name="format"/> (csv, json, gguf), or else by <paramref name="output"/>'s extension.</summary>
    /// <exception cref="InvalidParameterException">Neither names one of the formats.</exception>
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
    /// atomically in <paramref name="format"/>; <paramref name="modelHint"/> is GGUF's <c>controlvector.model_hint</c>
    /// (default: the imported file's hint, else the model's file name).
    /// </summary>
    /// <exception cref="InvalidProfileException">GGUF of a profile that is not additive (caa) at mlp-out sites.</exception>
    public static ProfileExportResult Write(SteeringProfile profile, string profilePath, string output, ExportFormat format, string? modelHint = null)
    {
        switch (format)
        {
            case ExportFormat.Csv:
            {
                var rows = UnitTable.Rows(profile);
                IO.AtomicFile.WriteAllText(output, UnitTable.ToCsv(rows));
                return new ProfileExportResult(output, format, rows.Count, [], 0, null);
            }
            case ExportFormat.Json:
            {
                var rows = UnitTable.Rows(profile);
                IO.AtomicFile.WriteAllBytes(output, UnitTable.ToJson(profile, rows));
                return new ProfileExportResult(output, format, rows.Count, [], 0, null);
            }
            default:
            {
                var vector = ControlVectorProfiles.Export(profile, profilePath, modelHint);
                ControlVectorFile.Write(output, vector, profile.ModelFingerprint);
                return new ProfileExportResult(output, format, vector.Directions.Count, [.. vector.Directions.Keys], vector.Width, vector.ModelHint);
            }
        }
    }
}
