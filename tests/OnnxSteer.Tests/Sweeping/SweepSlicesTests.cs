using OnnxSteer.Profiles;
using OnnxSteer.Sweeping;
using Xunit;
using OnnxSteer.Cli;

namespace OnnxSteer.Tests.Sweeping;

/// <summary>Where the validation and test slices go relative to the records a profile's pairs came from.</summary>
public class SweepSlicesTests
{
    private static SteeringProfile Profile(string? source, int skippedBad = 0) => new() { Source = source, SkippedBad = skippedBad };

    [Fact]
    public void The_profiles_source_is_read_back_including_merged_and_svamp_sources()
    {
        var one = ProfileSource.Parse(Profile("copa val.jsonl skip 10 limit 40", skippedBad: 2))!;
        Assert.Equal(new ProfileSource("copa", "val.jsonl", new RecordRange(10, 42)), Assert.Single(one));
        var svamp = ProfileSource.Parse(Profile("svamp train.json (wrong answer: Jaccard similarity of lower-cased word sets) skip 0"))!;
        Assert.Equal(new ProfileSource("svamp", "train.json", new RecordRange(0, null)), Assert.Single(svamp));
        var merged = ProfileSource.Parse(Profile("boolq dev.jsonl skip 0 limit 100 + boolq dev.jsonl skip 100 limit 100"))!;
        Assert.Equal([0, 100], merged.Select(m => m.Records.Offset));
        Assert.Null(ProfileSource.Parse(Profile("something else")));
        Assert.Null(ProfileSource.Parse(Profile(null)));
    }

    [Fact]
    public void Without_an_offset_the_slices_start_after_the_profiles_records_of_the_same_file()
    {
        var s = SweepSlices.Plan(Profile("copa val.jsonl skip 0 limit 40"), "/data/copa/val.jsonl", null, 20, 30);
        Assert.Equal(new RecordRange(40, 20), s.Validation);
        Assert.Equal(new RecordRange(60, 30), s.Test);
        Assert.False(s.Validation.Overlaps(s.Test));
    }

    [Fact]
    public void Slices_that_fit_before_the_profiles_records_start_at_zero_and_an_open_test_slice_stops_at_them()
    {
        var s = SweepSlices.Plan(Profile("copa val.jsonl skip 50 limit 50"), "val.jsonl", null, 20, null);
        Assert.Equal(new RecordRange(0, 20), s.Validation);
        Assert.Equal(new RecordRange(20, 30), s.Test);
    }

    [Fact]
    public void An_offset_overlapping_the_profiles_records_is_refused_and_one_after_them_accepted()
    {
        var profile = Profile("copa val.jsonl skip 0 limit 40");
        var e = Assert.Throws<InvalidParameterException>(() => SweepSlices.Plan(profile, "val.jsonl", 30, 5, 5));
        Assert.Equal(ExitCodes.Usage, ErrorReporter.ExitCode(e));
        Assert.Contains("--offset 40", ErrorReporter.Message(e));
        Assert.Equal(45, SweepSlices.Plan(profile, "val.jsonl", 40, 5, 5).Test.Offset);
        // Bad records the profile skipped still count as records it read.
        Assert.Throws<InvalidParameterException>(() => SweepSlices.Plan(Profile("copa val.jsonl skip 0 limit 40", skippedBad: 3), "val.jsonl", 41, 5, 5));
    }

    [Fact]
    public void A_profile_that_used_the_whole_file_leaves_no_room_and_another_file_is_not_constrained()
    {
        Assert.Throws<InvalidParameterException>(() => SweepSlices.Plan(Profile("boolq dev.jsonl skip 0"), "dev.jsonl", null, 10, 10));
        var other = SweepSlices.Plan(Profile("boolq dev.jsonl skip 0"), "other.jsonl", null, 10, 10);
        Assert.Equal(0, other.Validation.Offset);
        Assert.Contains("not other.jsonl", Assert.Single(other.Notes).ToString());
        var unknown = SweepSlices.Plan(Profile(null), "dev.jsonl", null, 10, 10);
        Assert.StartsWith("warning:", Assert.Single(unknown.Notes).ToString());
    }

    [Fact]
    public void Grid_lists_are_parsed_sorted_and_deduplicated_and_bad_entries_are_usage_errors()
    {
        Assert.Equal([1, 4, 16], SweepGrid.ParseK("16, 4,1,4"));
        Assert.Equal([0, 2.5, 20], SweepGrid.ParseAlpha("20,0,2.5"));
        Assert.Equal(ExitCodes.Usage, ErrorReporter.ExitCode(Assert.Throws<InvalidParameterException>(() => SweepGrid.ParseK("1,0"))));
        // A negative alpha is a setting like any other (docs/errors.md, "The sign of alpha").
        Assert.Equal([-5, 1], SweepGrid.ParseAlpha("1,-5"));
        Assert.Equal(ExitCodes.Usage, ErrorReporter.ExitCode(Assert.Throws<InvalidParameterException>(() => SweepGrid.ParseAlpha("1,x"))));
        Assert.Equal(ExitCodes.Usage, ErrorReporter.ExitCode(Assert.Throws<InvalidParameterException>(() => SweepGrid.ParseAlpha("nan"))));
        Assert.Equal([new SweepSetting(1, 1), new SweepSetting(1, 5), new SweepSetting(2, 1), new SweepSetting(2, 5)], SweepGrid.Settings([2, 1], [5, 1]));
    }
}
