using System.Diagnostics;
using OnnxSteer.Import;
using OnnxSteer.Pairs;
using OnnxSteer.ProfileRuns;
using OnnxSteer.Recording;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;

namespace OnnxSteer.Tests.Cli;

/// <summary>
/// What the CLI contract tests run commands on: stories260K imported (genai, fp32), and one profile of it recorded on
/// COPA val.jsonl records 0..7 (all site kinds; attn selected, k 4, alpha 10), in a temporary folder removed when the
/// test process exits. Built lazily, so never when ../shared is absent.
/// </summary>
public sealed class CliFixture
{
    private static readonly Lazy<CliFixture> Instance = new(() => new CliFixture());

    /// <summary>The one fixture of this test run.</summary>
    public static CliFixture Shared => Instance.Value;

    public string Dir { get; } = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"onnxsteer-cli-{Guid.NewGuid():N}")).FullName;
    public string Model { get; } = ImportedModels.Get(ExportStyle.Genai, ExportDType.Fp32);
    public string ProfilePath => Path.Combine(Dir, "profile.json");
    public static string CopaVal => SharedData.Path("data", "copa", "val.jsonl");

    private CliFixture()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        var pairs = TaskPairs.Build(BenchmarkTask.Copa, CopaVal, new PairOptions(Limit: 8));
        ProfileRunner.Run(new ProfileRequest { ModelPath = Model, Pairs = pairs, Settings = new ProfileSettings { Sites = [SiteKind.Attn], K = 4, Alpha = 10 } }).Save(ProfilePath);
    }

    /// <summary>A fresh empty folder under the fixture's.</summary>
    public string NewFolder(string name) => Directory.CreateDirectory(Path.Combine(Dir, $"{name}-{Guid.NewGuid():N}")).FullName;

    /// <summary>Runs the CLI with stdout and stderr as pipes (never a terminal).</summary>
    public static (int Code, string Stdout, string Stderr) Run(params string[] args) => CliProcess.Run(null, args);

    /// <summary>Runs the CLI with <paramref name="env"/> set (a null value removes the variable).</summary>
    public static (int Code, string Stdout, string Stderr) RunWith(IReadOnlyDictionary<string, string?> env, params string[] args) =>
        CliProcess.RunConfigured(args, psi =>
        {
            foreach (var (k, v) in env)
                if (v is null) psi.Environment.Remove(k);
                else psi.Environment[k] = v;
        });

    /// <summary>
    /// Runs the CLI on a pseudo-terminal (util-linux <c>script</c>), as a user at a terminal would: returns everything the
    /// terminal received, or null when <c>script</c> is not installed.
    /// </summary>
    public static string? RunOnTerminal(IReadOnlyDictionary<string, string?> env, params string[] args)
    {
        if (!File.Exists("/usr/bin/script")) return null;
        var command = string.Join(' ', CliProcess.Command.Concat(args).Select(Quote));
        var (_, stdout, _) = CliProcess.Exec("/usr/bin/script", null, ["-qec", command, "/dev/null"], psi =>
        {
            psi.Environment["TERM"] = "xterm-256color";
            psi.Environment.Remove("NO_COLOR");
            foreach (var (k, v) in env)
                if (v is null) psi.Environment.Remove(k);
                else psi.Environment[k] = v;
        });
        return stdout;
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";
}
