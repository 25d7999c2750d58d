using System.Globalization;
using System.Text.RegularExpressions;
using OnnxSteer.Profiles;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Sweeping;

/// <summary>A run of records of a data file: records Offset .. Offset + Count − 1 (0-based, blank lines not counted); Count null = to the end.</summary>
/// <param name="Offset">The first record (0-based).</param>
/// <param name="Count">Records in the range; null = to the end of the file.</param>
public readonly record struct RecordRange(int Offset, int? Count)
{
    /// <summary>One past the last record, or null when the range runs to the end of the file.</summary>
    public int? End => Count is { } c ? Offset + c : null;

    /// <summary>True when the two ranges share a record.</summary>
    internal bool Overlaps(RecordRange other) =>
        (other.End is not { } e || Offset < e) && (End is not { } f || other.Offset < f);

    /// <summary>"records 40..79" or "records 40.. (to the end)".</summary>
    public override string ToString() => End is { } e ? $"records {Offset}..{e - 1}" : $"records {Offset}.. (to the end)";
}

/// <summary>Where a profile's pairs came from, read back from its <c>source</c> field ("copa val.jsonl skip 0 limit 100").</summary>
/// <param name="Task">The task name, or "pairs" for a pairs file.</param>
/// <param name="FileName">The data file's name (profiles store the name, not the path).</param>
/// <param name="Records">The records the pairs were taken from (bad records skipped with --skip-bad included).</param>
internal sealed partial record ProfileSource(string Task, string FileName, RecordRange Records)
{
    /// <summary>
    /// Parses <paramref name="profile"/>'s source (each part of a merged "a + b" source); null when it is absent or not in
    /// the form profile writes. The range ends after limit + skippedBad records when a limit was given, else runs to the end.
    /// </summary>
    public static IReadOnlyList<ProfileSource>? Parse(SteeringProfile profile)
    {
        if (string.IsNullOrWhiteSpace(profile.Source)) return null;
        var parts = new List<ProfileSource>();
        foreach (var part in profile.Source.Split(" + "))
        {
            var m = Pattern().Match(part.Trim());
            if (!m.Success) return null;
            var skip = int.Parse(m.Groups["skip"].Value, CultureInfo.InvariantCulture);
            int? count = m.Groups["limit"].Success ? int.Parse(m.Groups["limit"].Value, CultureInfo.InvariantCulture) + profile.SkippedBad : null;
            parts.Add(new ProfileSource(m.Groups["task"].Value, m.Groups["file"].Value, new RecordRange(skip, count)));
        }
        return parts;
    }

    [GeneratedRegex(@"^(?<task>\S+) (?<file>.+?)(?: \(wrong answer: [^)]*\))? skip (?<skip>\d+)(?: limit (?<limit>\d+))?$")]
    private static partial Regex Pattern();
}

/// <summary>The validation and test slices of a sweep, and what was checked about them.</summary>
/// <param name="Validation">Records the settings are compared on.</param>
/// <param name="Test">Records the chosen setting and the vanilla model are evaluated on once; Count null = to the end of the file.</param>
/// <param name="Notes">What was checked against the profile's pairs, for the user and sweep.json.</param>
public sealed record SweepSlices(RecordRange Validation, RecordRange Test, IReadOnlyList<WarningText> Notes)
{
    /// <summary>
    /// Lays out validation (<paramref name="validation"/> records from <paramref name="offset"/>) and then the test
    /// slice right after it, so the two are disjoint by construction, and keeps both apart from the records the
    /// profile's pairs came from when <paramref name="dataPath"/> has the same file name as the profile's source:
    /// an explicit <paramref name="offset"/> that overlaps is refused; without one the slices start at record 0 when they
    /// fit before the profile's records, else right after them. A profile whose source cannot be read gets a warning.
    /// </summary>
    /// <param name="profile">The profile whose pairs must stay out of both slices.</param>
    /// <param name="dataPath">The evaluation data file.</param>
    /// <param name="offset">First validation record; null = chosen to avoid the profile's records.</param>
    /// <param name="validation">Validation records.</param>
    /// <param name="test">Test records; null = the rest of the file (stopping where the profile's records begin, if later).</param>
    /// <exception cref="InvalidParameterException">The slices would overlap the profile's pairs (<c>offset</c>).</exception>
    internal static SweepSlices Plan(SteeringProfile profile, string dataPath, int? offset, int validation, int? test)
    {
        if (validation < 1) throw new InvalidParameterException("validation", $"{Param("validation")} {validation}: must be at least 1");
        if (test is < 1) throw new InvalidParameterException("test", $"{Param("test")} {test}: must be at least 1");
        if (offset is < 0) throw new InvalidParameterException("offset", $"{Param("offset")} {offset}: must be ≥ 0");
        var notes = new List<WarningText>();
        var fileName = Path.GetFileName(dataPath);
        var sources = ProfileSource.Parse(profile);
        if (sources is null)
        {
            notes.Add($"warning: the profile does not say which records its pairs came from (source '{profile.Source}'): cannot check that the slices are disjoint from them");
            return Layout(offset ?? 0, validation, test, null, notes);
        }
        var used = sources.Where(s => string.Equals(s.FileName, fileName, StringComparison.Ordinal)).Select(s => s.Records).ToList();
        if (used.Count == 0)
        {
            notes.Add($"the profile's pairs came from {string.Join(" + ", sources.Select(s => s.FileName).Distinct())}, not {fileName}: no records to keep apart (items shared between different files are not detected)");
            return Layout(offset ?? 0, validation, test, null, notes);
        }

        // The earliest record the profile used at or after a point: the test slice, when open-ended, stops there.
        int? NextUsedFrom(int from) => used.Where(u => u.Offset >= from).Select(u => (int?)u.Offset).Min();
        bool Clear(int start)
        {
            var end = test is { } t ? start + validation + t : NextUsedFrom(start + validation) ?? (int?)null;
            var span = new RecordRange(start, end is { } e ? e - start : null);
            return !used.Any(u => u.Overlaps(span));
        }
        var describe = string.Join(", ", used.Select(u => u.ToString()));
        if (offset is { } o)
        {
            if (!Clear(o))
            {
                ErrorText example = "";
                if (used.All(u => u.End is not null)) example = $", e.g. {Param("offset")} {used.Max(u => u.End)}";
                throw new InvalidParameterException("offset",
                    $"{dataPath}: the validation/test slices from record {o} overlap the profile's pairs ({profile.Source}: {describe}); " +
                    $"choose {Param("offset")} so that they do not{example}");
            }
            notes.Add($"{fileName} is the profile's pairs file ({describe}); the slices from record {o} do not overlap them");
            return Layout(o, validation, test, NextUsedFrom(o + validation), notes);
        }
        if (Clear(0))
        {
            notes.Add($"{fileName} is the profile's pairs file ({describe}); the slices start at record 0, before them");
            return Layout(0, validation, test, NextUsedFrom(validation), notes);
        }
        var after = used.Any(u => u.End is null) ? (int?)null : used.Max(u => u.End!.Value);
        if (after is not { } start || !Clear(start))
            throw new InvalidParameterException("offset",
                $"{dataPath}: the profile's pairs used {describe} of this file ({profile.Source}), leaving no room for the slices; give {Param("offset")} or another data file");
        notes.Add($"{fileName} is the profile's pairs file ({describe}); the slices start after them, at record {start}");
        return Layout(start, validation, test, NextUsedFrom(start + validation), notes);
    }

    private static SweepSlices Layout(int offset, int validation, int? test, int? stopAt, List<WarningText> notes)
    {
        var testCount = test ?? (stopAt is { } s ? s - (offset + validation) : null);
        return new SweepSlices(new RecordRange(offset, validation), new RecordRange(offset + validation, testCount), notes);
    }
}
