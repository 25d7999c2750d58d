using System.Text.Json;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Pairs;

/// <summary>One text a DSAS probe is fitted on: <paramref name="Undesired"/> is class 1 (the behaviour steering is for).</summary>
internal sealed record ProbeText(string Text, bool Undesired, string Origin);

/// <summary>
/// The texts DSAS probes are fitted on, and where they came from. The paper's data is undesired examples against a
/// neutral control set; without neutral texts the pairs give the older labels, negative answer against positive answer.
/// </summary>
/// <param name="Texts">Undesired and neutral (or positive) texts, in file order within each class.</param>
/// <param name="Description">For the profile and messages, e.g. <c>pairs' negative texts vs neutral.jsonl</c>.</param>
/// <param name="AgainstNeutral">True when class 0 is a neutral control set, false when it is the pairs' positive texts.</param>
internal sealed record ProbeTextSet(IReadOnlyList<ProbeText> Texts, string Description, bool AgainstNeutral)
{
    /// <summary>Undesired = each pair's prompt + negative answer; class 0 = each pair's prompt + positive answer.</summary>
    public static ProbeTextSet FromPairs(IReadOnlyList<ContrastivePair> pairs) =>
        new(pairs.SelectMany(p => new[] { new ProbeText(p.PositiveText, false, p.Origin), new ProbeText(p.NegativeText, true, p.Origin) }).ToList(),
            "pairs' negative vs positive texts", AgainstNeutral: false);

    /// <summary>Undesired = each pair's prompt + negative answer; neutral = the texts of <paramref name="path"/> (JSON Lines, <c>{"text": ...}</c>).</summary>
    public static ProbeTextSet FromPairsAndNeutral(IReadOnlyList<ContrastivePair> pairs, string path)
    {
        var neutral = Read(path, "probeNeutral", "{\"text\": ...}", (e, _) => (JsonRecords.String(e, "text"), false)).ToList();
        return new(pairs.Select(p => new ProbeText(p.NegativeText, true, p.Origin)).Concat(neutral).ToList(),
            $"pairs' negative texts vs {Path.GetFileName(path)}", AgainstNeutral: true);
    }

    /// <summary>
    /// Both classes from <paramref name="path"/>: JSON Lines <c>{"text": ..., "label": "undesired" | "neutral"}</c>.
    /// </summary>
    public static ProbeTextSet FromFile(string path)
    {
        var texts = Read(path, "probeData", "{\"text\": ..., \"label\": \"undesired\"|\"neutral\"}", (e, origin) =>
        {
            var label = JsonRecords.String(e, "label");
            return label switch
            {
                "undesired" => (JsonRecords.String(e, "text"), true),
                "neutral" => (JsonRecords.String(e, "text"), false),
                _ => throw new BadRecordException($"field 'label': expected \"undesired\" or \"neutral\", found \"{label}\""),
            };
        }).ToList();
        return new(texts, Path.GetFileName(path), AgainstNeutral: true);
    }

    private static IEnumerable<ProbeText> Read(string path, string parameter, string shape, Func<JsonElement, string, (string Text, bool Undesired)> parse)
    {
        if (!File.Exists(path)) throw new InvalidProfileException($"{path}: no such file ({Param(parameter)})");
        var number = 0;
        var any = false;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var origin = $"{path}:{number}";
            (string Text, bool Undesired) record;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new BadRecordException("expected a JSON object");
                record = parse(doc.RootElement, origin);
            }
            catch (JsonException e) { throw new InvalidProfileException($"{origin}: {JsonLineError.Describe(e)}; {Param(parameter)} wants one {shape} per line"); }
            catch (BadRecordException e) { throw new InvalidProfileException($"{origin}: {e.Text}; {Param(parameter)} wants one {shape} per line"); }
            if (record.Text.Length == 0) throw new InvalidProfileException($"{origin}: empty text ({Param(parameter)})");
            any = true;
            yield return new ProbeText(record.Text, record.Undesired, origin);
        }
        if (!any) throw new InvalidProfileException($"{path}: no texts ({Param(parameter)})");
    }
}
