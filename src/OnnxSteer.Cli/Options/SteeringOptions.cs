using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Cli.Options;

/// <summary>
/// The selection options every command spells the same way: <c>--k</c>, <c>--alpha</c>, <c>--sites</c>. Each has one
/// type (a list: one value for profile, select and patch, several for sweep), one parser and one validator, so a
/// mistake reads the same in every command and is a usage error (64) before any file is read.
/// </summary>
public static class SteeringOptions
{
    /// <summary><c>--k</c>: units to keep, each a whole number ≥ 1; with <paramref name="list"/> a comma-separated list (sorted, duplicates dropped).</summary>
    public static Option<IReadOnlyList<int>> K(string description, IReadOnlyList<int>? defaultValue = null, bool list = false, string? helpName = null) =>
        ListOption("--k", description, defaultValue, list, helpName, text =>
            !int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var k) ? (0, $"--k {text}: cannot be read as a whole number")
            : k < 1 ? (0, $"--k {text}: must be at least 1")
            : (k, null));

    /// <summary><c>--alpha</c>: steering strength, each a finite number (negative steers the other way); with <paramref name="list"/> a comma-separated list.</summary>
    public static Option<IReadOnlyList<double>> Alpha(string description, IReadOnlyList<double>? defaultValue = null, bool list = false,
        string? helpName = null, string name = "--alpha", params string[] aliases) =>
        ListOption(name, description, defaultValue, list, helpName, text =>
            !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var a) ? (0d, $"{name} {text}: cannot be read as a number")
            : !double.IsFinite(a) ? (0d, $"{name} {text}: must be a finite number")
            : (a, null), aliases);

    /// <summary><c>--sites</c>: site kinds, comma-separated (attn, mlp, mlp-out), in the order given, duplicates dropped.</summary>
    public static Option<IReadOnlyList<SiteKind>> Sites(string description, IReadOnlyList<SiteKind>? defaultValue = null, string? helpName = null)
    {
        var option = new Option<IReadOnlyList<SiteKind>>("--sites") { Description = description, HelpName = helpName, Arity = ArgumentArity.ExactlyOne };
        if (defaultValue is not null) option.DefaultValueFactory = _ => defaultValue;
        option.CustomParser = result =>
        {
            try
            {
                return SelectionText.ParseSites(result.Tokens.Single().Value);
            }
            catch (InvalidParameterException e)
            {
                result.AddError(ErrorReporter.Message(e));
                return null;
            }
        };
        return option;
    }

    /// <summary>The one value of a single-valued list option, or null when it was not given and has no default.</summary>
    public static T? One<T>(ParseResult parse, Option<IReadOnlyList<T>> option) where T : struct =>
        parse.GetValue(option) is [var value] ? value : null;

    private static Option<IReadOnlyList<T>> ListOption<T>(string name, string description, IReadOnlyList<T>? defaultValue, bool list,
        string? helpName, Func<string, (T Value, string? Error)> parseItem, params string[] aliases)
    {
        var option = new Option<IReadOnlyList<T>>(name, aliases) { Description = description, HelpName = helpName, Arity = ArgumentArity.ExactlyOne };
        if (defaultValue is not null) option.DefaultValueFactory = _ => defaultValue;
        option.CustomParser = result => ParseList(result, name, list, parseItem);
        return option;
    }

    private static IReadOnlyList<T>? ParseList<T>(ArgumentResult result, string name, bool list, Func<string, (T Value, string? Error)> parseItem)
    {
        var text = result.Tokens.Single().Value;
        var items = list ? text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) : [text.Trim()];
        if (items.Length == 0)
        {
            result.AddError($"{name}: give a comma-separated list of values");
            return null;
        }
        var values = new List<T>();
        foreach (var item in items)
        {
            var (value, error) = parseItem(item);
            if (error is not null)
            {
                result.AddError(error);
                return null;
            }
            values.Add(value);
        }
        return list ? values.Distinct().Order().ToList() : values;
    }
}
