using System.CommandLine;
using OnnxSteer.Cli.Options;
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
        // The sweep's lists go through the CLI's one parser of --k and --alpha (SteeringOptions).
        Assert.Equal([1, 4, 16], GridLists.Ks("16, 4,1,4"));
        Assert.Equal([0, 2.5, 20], GridLists.Alphas("20,0,2.5"));
        Assert.Equal("--k 0: must be at least 1", GridLists.KError("1,0"));
        // A negative alpha is a setting like any other (docs/errors.md, "The sign of alpha").
        Assert.Equal([-5, 1], GridLists.Alphas("1,-5"));
        Assert.Equal("--alpha x: cannot be read as a number", GridLists.AlphaError("1,x"));
        Assert.StartsWith("--alpha nan: ", GridLists.AlphaError("nan"));
        Assert.Equal([new SweepSetting(1, 1), new SweepSetting(1, 5), new SweepSetting(2, 1), new SweepSetting(2, 5)], SweepGrid.Settings([2, 1], [5, 1]));
    }
}

/// <summary>The sweep's <c>--k</c> and <c>--alpha</c> lists read by the CLI's parser, as <c>onnxsteer sweep</c> reads them.</summary>
internal static class GridLists
{
    private static readonly Option<IReadOnlyList<int>> K = SteeringOptions.K("k", list: true);
    private static readonly Option<IReadOnlyList<double>> Alpha = SteeringOptions.Alpha("alpha", list: true);

    private static ParseResult Parse(Option option, string text) => new RootCommand { option }.Parse([option.Name, text]);

    public static IReadOnlyList<int> Ks(string text) => Parse(K, text) is { Errors.Count: 0 } p ? p.GetValue(K)! : throw new Xunit.Sdk.XunitException(Parse(K, text).Errors[0].Message);
    public static IReadOnlyList<double> Alphas(string text) => Parse(Alpha, text) is { Errors.Count: 0 } p ? p.GetValue(Alpha)! : throw new Xunit.Sdk.XunitException(Parse(Alpha, text).Errors[0].Message);
    public static string KError(string text) => Assert.Single(Parse(K, text).Errors).Message;
    public static string AlphaError(string text) => Assert.Single(Parse(Alpha, text).Errors).Message;
}
