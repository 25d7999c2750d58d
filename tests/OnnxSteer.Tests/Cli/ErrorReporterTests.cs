using System.Globalization;
using System.Text.RegularExpressions;
using OnnxSteer.Cli;
using OnnxSteer.Evaluation;
using OnnxSteer.HostFormats;
using OnnxSteer.Pairs;
using OnnxSteer.Patching;
using OnnxSteer.Profiles;
using OnnxSteer.Runtime;
using OnnxSteer.Sites;
using OnnxSteer.Sweeping;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Tests.Cli;

/// <summary>
/// The library throws typed exceptions that name parameters; <see cref="ErrorReporter"/> alone turns them into the CLI's
/// one line (parameters written as options) and exit code. These tests hold both halves to that: every parameter the
/// library names has an option, no library string spells a flag, and the exit codes stay those of docs/errors.md.
/// </summary>
public sealed partial class ErrorReporterTests
{
    private static readonly string Library = Path.Combine(SharedData.RepoRoot, "src", "OnnxSteer");
    private static readonly string Server = Path.Combine(SharedData.RepoRoot, "src", "OnnxSteer.Server");

    /// <summary>
    /// Library string literals allowed to spell a flag (file and a snippet of the line), each with the reason it must:
    /// none today. An entry whose snippet is gone fails the test, so the list can only shrink.
    /// </summary>
    private static readonly (string File, string Snippet, string Reason)[] Allowed = [];

    [Fact]
    public void Every_parameter_the_library_names_has_an_option()
    {
        var named = ParameterNamesInSource(Library).Concat(ParameterNamesInSource(Server)).Distinct().Order().ToList();
        // The library names dozens of parameters; a scan that finds few has stopped seeing them.
        Assert.True(named.Count >= 30, $"only {named.Count} parameter names found: {string.Join(", ", named)}");
        var missing = named.Where(n => !ErrorReporter.Options.ContainsKey(n)).ToList();
        Assert.True(missing.Count == 0, $"no CLI option for library parameter(s): {string.Join(", ", missing)} (add them to ErrorReporter.Options)");
        Assert.All(ErrorReporter.Options.Values, o => Assert.Matches("^-(-[a-z][a-z-]*|o)$", o));
    }

    [Fact]
    public void An_unknown_parameter_is_printed_under_its_own_name()
    {
        Assert.Equal("--alpha", ErrorReporter.Option("alpha"));
        Assert.Equal("someSetting", ErrorReporter.Option("someSetting"));
        Assert.Equal("someSetting 3: too big", ErrorReporter.Message(new InvalidParameterException("someSetting", $"{Param("someSetting")} 3: too big")));
    }

    [Fact]
    public void Library_strings_name_no_flag()
    {
        // Errors, warnings, notes and report text alike: a string the library writes mentions a parameter
        // (ErrorText.Param) and the CLI renders it as its option. Comments (doc comments included) may name flags.
        var found = new List<string>();
        var quotes = 0;
        foreach (var (root, file) in SourceFiles(Library).Select(f => (Library, f)).Concat(SourceFiles(Server).Select(f => (Server, f))))
        {
            var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
            foreach (var (line, number) in File.ReadLines(file).Select((l, i) => (l, i + 1)))
            {
                var code = WithoutComment(line);
                quotes += code.Count(c => c == '"');
                if (!FlagInString().IsMatch(code)) continue;
                if (Allowed.Any(a => a.File == relative && code.Contains(a.Snippet, StringComparison.Ordinal))) continue;
                found.Add($"{relative}:{number}: {code.Trim()}");
            }
        }
        // The library holds thousands of string literals; a scan that sees few has stopped reading the sources.
        Assert.True(quotes > 4000, $"only {quotes} quotes outside comments");
        Assert.True(found.Count == 0, "library strings that spell a CLI flag (mention the parameter with ErrorText.Param instead):\n" + string.Join("\n", found));

        var stale = Allowed.Where(a => !File.ReadAllText(Path.Combine(Library, a.File)).Contains(a.Snippet, StringComparison.Ordinal)).ToList();
        Assert.True(stale.Count == 0, "converted: remove from Allowed: " + string.Join("; ", stale));
    }

    [Fact]
    public void The_flag_scan_sees_strings_and_skips_comments()
    {
        Assert.Matches(FlagInString(), WithoutComment("        warnings.Add(what + \"; applied anyway (--force)\");"));
        Assert.Matches(FlagInString(), WithoutComment("    x = $\"use {Param(\"k\")} or --k 3\"; // fine"));
        Assert.DoesNotMatch(FlagInString(), WithoutComment("    /// <summary>Re-selection and --force.</summary>"));
        Assert.DoesNotMatch(FlagInString(), WithoutComment("    var s = \"a\"; // as \"patch --dynamic\" does"));
        Assert.DoesNotMatch(FlagInString(), WithoutComment("    if (--pending[d] == 0) ready.Enqueue(d, d);"));
    }

    [Fact]
    public void Warnings_and_notes_are_written_with_options()
    {
        ErrorText warning = $"p.json: recorded on another model; applied anyway ({Param("force")})";
        Assert.Equal("p.json: recorded on another model; applied anyway (force)", warning.ToString());
        Assert.Equal("p.json: recorded on another model; applied anyway (--force)", ErrorReporter.Render(warning));
        Assert.Equal("--json", ErrorReporter.Option("json"));
        Assert.Equal("--tie-break", ErrorReporter.Option("tieBreak"));
    }

    [Fact]
    public void The_library_names_the_parameter_and_the_cli_the_option()
    {
        var e = Assert.Throws<InvalidParameterException>(() => SignRule.CheckAlpha(double.NaN));
        Assert.Equal("alpha", e.ParamName);
        Assert.Equal("alpha NaN: must be a finite number", e.Message);
        Assert.Equal("--alpha NaN: must be a finite number", ErrorReporter.Message(e));
        Assert.Equal(ExitCodes.Usage, ErrorReporter.ExitCode(e));

        var task = new InvalidParameterException("ks", $"the sweep grid is empty: give {ErrorText.Param("ks")} and {ErrorText.Param("alphas")} lists");
        Assert.Equal("the sweep grid is empty: give --k and --alpha lists", ErrorReporter.Message(task));

        var sites = Assert.Throws<InvalidParameterException>(() => SelectionText.ParseSites("attn,nope"));
        Assert.Equal("--sites: unknown site kind 'nope': expected attn, mlp or mlp-out (comma-separated)", ErrorReporter.Message(sites));

        var fold = Assert.Throws<InvalidParameterException>(() => new PatchOptions(Fold: true, Switchable: true));
        Assert.Equal("switchable", fold.ParamName);
        Assert.Equal("fold and switchable cannot be used together: a folded weight has no vector to override", fold.Message);
        Assert.Equal("--fold and --switchable cannot be used together: a folded weight has no vector to override", ErrorReporter.Message(fold));
        Assert.Throws<InvalidParameterException>(() => new PatchOptions(Fold: true, Dynamic: true));

        var threads = Assert.Throws<InvalidParameterException>(() => new RuntimeSettings { Threads = -1 }.CreateSessionOptions());
        Assert.StartsWith("--threads -1: must be between 0 and ", ErrorReporter.Message(threads));
        Assert.Equal("--mode: unknown mode 'beam': expected generate or loglik",
            ErrorReporter.Message(Assert.Throws<InvalidParameterException>(() => EvalModes.Resolve("beam", BenchmarkTask.Copa))));
    }

    [Fact]
    public void Exit_codes_follow_what_went_wrong()
    {
        Assert.Equal(ExitCodes.Usage, ErrorReporter.ExitCode(new InvalidParameterException("k", "k 0: must be at least 1")));
        Assert.Equal(ExitCodes.InvalidInput, ErrorReporter.ExitCode(new InvalidInputException("pairs.jsonl: empty")));
        Assert.Equal(ExitCodes.InvalidInput, ErrorReporter.ExitCode(new InvalidModelException("m.onnx: not a model")));
        Assert.Equal(ExitCodes.InvalidInput, ErrorReporter.ExitCode(new InvalidProfileException("p.json: not a profile")));
        Assert.Equal(ExitCodes.InvalidInput, ErrorReporter.ExitCode(new InvalidTokenizerException("t.json: bad")));
        Assert.Equal(ExitCodes.InvalidInput, ErrorReporter.ExitCode(new InvalidGgufException("v.gguf: bad")));
        Assert.Equal(ExitCodes.InvalidInput, ErrorReporter.ExitCode(new NoSitesFoundException("m.onnx: no sites")));
        Assert.Equal(ExitCodes.Runtime, ErrorReporter.ExitCode(new RuntimeUnavailableException("no ORT")));
        Assert.Equal(ExitCodes.Runtime, ErrorReporter.ExitCode(new ExecutionProviderUnavailableException("no CUDA")));
        Assert.Equal(ExitCodes.Failure, ErrorReporter.ExitCode(new OnnxSteerException("merge: overflow")));
        Assert.Equal(ExitCodes.InvalidInput, ErrorReporter.ExitCode(new CommandLineException("x: no such file", ExitCodes.InvalidInput)));
        Assert.Equal(ExitCodes.Usage, ErrorReporter.ExitCode(new CommandLineException("--a and --b: pick one")));
    }

    [Fact]
    public void Error_text_formats_as_string_interpolation_and_keeps_mentions()
    {
        var (x, big, none) = (1.0 / 3, 1234567.891, (string?)null);
        ErrorText inner = $"use {Param("force")}";
        ErrorText text = $"{Param("k")} {x:0.00} {big} [{none}] [{7,3}] [{"a",-2}] ({inner})";
        Assert.Equal(["k", "force"], text.Parameters);
        Assert.Equal(FormattableString.Invariant($"k {x:0.00} {big} [{none}] [{7,3}] [{"a",-2}] (use force)"), text.ToString());
        Assert.Equal($"--k {x:0.00} {big} [{none}] [{7,3}] [{"a",-2}] (use --force)", text.Render(ErrorReporter.Option));
        Assert.Equal("plain", ((ErrorText)"plain").Render(_ => throw new InvalidOperationException("no mention")));
        Assert.Equal("a {b}", ((ErrorText)$"a {{b}}").ToString());

        // A message reads the same on every machine: numbers are formatted with the invariant culture.
        var comma = (CultureInfo)CultureInfo.InvariantCulture.Clone();
        comma.NumberFormat.NumberDecimalSeparator = ",";
        var before = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = comma;
            ErrorText half = $"{Param("alpha")} {0.5}";
            Assert.Equal("alpha 0.5", half.ToString());
        }
        finally { CultureInfo.CurrentCulture = before; }
    }

    /// <summary>The parameter names in <c>Param("x")</c> and <c>InvalidParameterException("x", …)</c> across a source tree.</summary>
    private static IEnumerable<string> ParameterNamesInSource(string root) =>
        SourceFiles(root).SelectMany(f => NamedParameter().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value));

    private static bool IsBuildOutput(string path) =>
        path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") || path.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}");

    private static IEnumerable<string> SourceFiles(string root) =>
        Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories).Where(f => !IsBuildOutput(f));

    /// <summary>
    /// <paramref name="line"/> without its comment: a line comment (<c>//</c>, <c>///</c>) outside string literals is cut.
    /// Strings are tracked by their quotes (escapes and interpolation holes included), which is enough for one line.
    /// </summary>
    private static string WithoutComment(string line)
    {
        var inString = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (inString && c == '\\') i++;
            else if (c == '"') inString = !inString;
            else if (!inString && c == '/' && i + 1 < line.Length && line[i + 1] == '/') return line[..i];
        }
        return line;
    }

    [GeneratedRegex(@"(?:Param|InvalidParameterException)\(\s*""([^""]+)""")]
    private static partial Regex NamedParameter();


    [GeneratedRegex(@"""[^""\n]*--[a-z][a-z-]*")]
    private static partial Regex FlagInString();
}
