using System.Text.Json;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Pairs;

/// <summary>
/// Reads contrastive pairs from JSON Lines: one object per line, <c>{"prompt": ..., "positive": ..., "negative": ...}</c>
/// (other fields are ignored; blank lines are allowed). The answers are appended to the prompt as they are.
/// </summary>
public static class PairsJsonl
{
    /// <summary>Reads <paramref name="path"/>; a bad line is an error naming the line, or counted with <see cref="PairOptions.SkipBad"/>.</summary>
    /// <param name="path">The JSON Lines file.</param>
    /// <param name="options">Which records to use; null = all, stopping at the first bad one.</param>
    /// <returns>The pairs, each with its origin (<c>file:line</c>).</returns>
    /// <exception cref="InvalidProfileException">No such file, a profile given as pairs, or a bad line (without <see cref="PairOptions.SkipBad"/>).</exception>
    /// <exception cref="InvalidParameterException"><see cref="PairOptions.Skip"/> or <see cref="PairOptions.Limit"/> is negative.</exception>
    public static PairSet Read(string path, PairOptions? options = null)
    {
        options ??= new PairOptions();
        if (!File.Exists(path)) throw new InvalidProfileException($"{path}: no such pairs file");
        RefuseProfile(path);
        return PairCollector.Collect(Records(path), options, $"pairs {Path.GetFileName(path)}");
    }

    /// <summary>
    /// A profile given where pairs belong (an easy slip: both are .json files) fails on its first line with a JSON
    /// error that says nothing useful; name the mistake instead.
    /// </summary>
    private static void RefuseProfile(string path)
    {
        var head = new char[4096];
        int read;
        using (var reader = new StreamReader(path)) read = reader.ReadBlock(head, 0, head.Length);
        var text = new string(head, 0, read);
        if (text.StartsWith("GGUF", StringComparison.Ordinal))
            throw new InvalidProfileException($"{path}: is a GGUF control vector, not pairs: {Param("pairs")} wants JSON Lines, " +
                                              $"one {{\"prompt\", \"positive\", \"negative\"}} object per line");
        // Any version of the profile schema (the pairs stage does not depend on the profiles stage, so by its prefix).
        if (text.Contains("\"onnxsteer.profile/", StringComparison.Ordinal))
            throw new InvalidProfileException($"{path}: this is a profile (written by 'onnxsteer profile'), not pairs: {Param("pairs")} wants JSON Lines, " +
                                              $"one {{\"prompt\", \"positive\", \"negative\"}} object per line");
    }

    private static IEnumerable<(string, Func<ContrastivePair>)> Records(string path)
    {
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var text = line;
            yield return ($"{path}:{number}", () => Parse(text));
        }
    }

    private static ContrastivePair Parse(string line)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(line); }
        catch (JsonException e) { throw new BadRecordException(JsonLineError.Describe(e)); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new BadRecordException("expected a JSON object");
            return new ContrastivePair(
                JsonRecords.String(doc.RootElement, "prompt"),
                JsonRecords.String(doc.RootElement, "positive"),
                JsonRecords.String(doc.RootElement, "negative"),
                "");
        }
    }
}

/// <summary>Reading task data: records from a JSON array or JSON Lines file, and typed fields with clear errors.</summary>
internal static class JsonRecords
{
    /// <summary>
    /// The records of <paramref name="path"/>: items of a top-level JSON array (origin <c>file[item i]</c>), or objects
    /// one per line (origin <c>file:line</c>). A malformed line becomes a bad record; a malformed array is an error.
    /// </summary>
    public static IEnumerable<(string Origin, Func<JsonElement> Element)> Read(string path)
    {
        if (!File.Exists(path)) throw new InvalidProfileException($"{path}: no such data file");
        var text = File.ReadAllText(path);
        if (text.TrimStart().StartsWith('['))
        {
            JsonDocument doc;
            try { doc = JsonDocument.Parse(text); }
            catch (JsonException e) { throw new InvalidProfileException($"{path}:{(e.LineNumber ?? 0) + 1}: not valid JSON ({IO.JsonErrorText.Of(e)})"); }
            var items = doc.RootElement.EnumerateArray().Select(x => x.Clone()).ToList();
            doc.Dispose();
            return items.Select((item, i) => ($"{path}[item {i}]", (Func<JsonElement>)(() => item)));
        }
        var lines = text.Split('\n');
        return lines.Select((line, i) => (line, i))
            .Where(x => !string.IsNullOrWhiteSpace(x.line))
            .Select(x => ($"{path}:{x.i + 1}", (Func<JsonElement>)(() => ParseLine(x.line))));
    }

    private static JsonElement ParseLine(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.Clone();
        }
        catch (JsonException e) { throw new BadRecordException(JsonLineError.Describe(e)); }
    }

    /// <summary>A string field; missing or not a string is a bad record.</summary>
    public static string String(JsonElement e, string name)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new BadRecordException("expected a JSON object");
        if (!e.TryGetProperty(name, out var v)) throw new BadRecordException($"missing field '{name}'");
        if (v.ValueKind != JsonValueKind.String) throw new BadRecordException($"field '{name}' must be a string, found {v.ValueKind}");
        return v.GetString()!;
    }

    /// <summary>A field holding a number or a numeric string.</summary>
    public static double Number(JsonElement e, string name)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new BadRecordException("expected a JSON object");
        if (!e.TryGetProperty(name, out var v)) throw new BadRecordException($"missing field '{name}'");
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && double.IsFinite(d)) return d;
        if (v.ValueKind == JsonValueKind.String && double.TryParse(v.GetString(), System.Globalization.NumberStyles.Float,
                System.Globalization.CultureInfo.InvariantCulture, out d) && double.IsFinite(d)) return d;
        throw new BadRecordException($"field '{name}' must be a finite number, found {v}");
    }

    /// <summary>A boolean field: true/false, or the strings "true"/"false".</summary>
    public static bool Bool(JsonElement e, string name)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new BadRecordException("expected a JSON object");
        if (!e.TryGetProperty(name, out var v)) throw new BadRecordException($"missing field '{name}'");
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.String when v.GetString() is "true" or "True" => true,
            JsonValueKind.String when v.GetString() is "false" or "False" => false,
            _ => throw new BadRecordException($"field '{name}' must be true or false, found {v}"),
        };
    }

    /// <summary>A field holding one of the integers <paramref name="allowed"/> (as a number or a numeric string).</summary>
    public static int Choice(JsonElement e, string name, params int[] allowed)
    {
        var d = Number(e, name);
        var i = (int)d;
        if (i != d || !allowed.Contains(i)) throw new BadRecordException($"field '{name}' must be one of {string.Join(", ", allowed)}, found {d}");
        return i;
    }
}

/// <summary>A JSON Lines parse error in our words, without System.Text.Json's 0-based "LineNumber" (the caller names the line).</summary>
internal static class JsonLineError
{
    /// <summary>"not valid JSON: ..." for one line.</summary>
    public static string Describe(JsonException e)
    {
        var column = (e.BytePositionInLine ?? 0) + 1;
        var message = e.Message;
        if (message.Contains("Expected depth to be zero", StringComparison.Ordinal) || message.Contains("end of data", StringComparison.Ordinal)
            || message.Contains("reached the end", StringComparison.OrdinalIgnoreCase))
            return "not valid JSON: the line ends before its object does (cut short, or a record spread over several lines? each record must be one line)";
        var reason = message.Split(" LineNumber:")[0].Split(" Path:")[0].Trim().TrimEnd('.');
        return $"not valid JSON at column {column}: {reason}";
    }
}
