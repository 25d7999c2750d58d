using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace OnnxSteer.Bench;

/// <summary>One contender of a round-robin measurement: untimed setup and cleanup around a timed body.</summary>
/// <param name="Name">Row label.</param>
/// <param name="Run">Does one run and returns the seconds it measured (setup and cleanup excluded).</param>
public sealed record Contender(string Name, Func<double> Run);

/// <summary>
/// Runs contenders round-robin (one run of each per round, the starting contender rotating), so load drift on a
/// shared machine hits all of them alike; keeps every run's seconds.
/// </summary>
public static class Rounds
{
    public static Dictionary<string, List<double>> Run(IReadOnlyList<Contender> contenders, int rounds, bool warmup = true,
        Action<string>? log = null)
    {
        var times = contenders.ToDictionary(c => c.Name, _ => new List<double>());
        if (warmup)
            foreach (var c in contenders)
            {
                log?.Invoke($"  warm-up: {c.Name}");
                c.Run();
            }
        for (var r = 0; r < rounds; r++)
        {
            for (var i = 0; i < contenders.Count; i++)
            {
                var c = contenders[(i + r) % contenders.Count];
                var s = c.Run();
                times[c.Name].Add(s);
                log?.Invoke($"  round {r + 1}/{rounds}: {c.Name} {s:0.0000} s");
            }
        }
        return times;
    }

    /// <summary>Times <paramref name="action"/> with a Stopwatch.</summary>
    public static double Time(Action action)
    {
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalSeconds;
    }
}

/// <summary>Median and range of a sample.</summary>
public readonly record struct Stat(double Median, double Min, double Max, int N)
{
    public static Stat Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return new Stat(double.NaN, double.NaN, double.NaN, 0);
        var v = values.Order().ToArray();
        var m = v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
        return new Stat(m, v[0], v[^1], v.Length);
    }

    /// <summary>Per-round ratios a[i]/b[i]: with interleaved rounds, the pairing cancels drift between rounds.</summary>
    public static Stat Paired(IReadOnlyList<double> a, IReadOnlyList<double> b) =>
        Of(a.Zip(b, (x, y) => x / y).ToList());
}

/// <summary>Markdown helpers; all numbers in invariant culture.</summary>
public static class Md
{
    public static string F(double v, string format = "0.000") => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>Three significant digits, for ratios.</summary>
    public static string G(double v) => v.ToString("G3", CultureInfo.InvariantCulture);

    public static string Seconds(Stat s) => s.Median < 0.1
        ? $"{F(s.Median * 1000, "0.00")} ms | {F(s.Min * 1000, "0.00")}–{F(s.Max * 1000, "0.00")} ms"
        : $"{F(s.Median)} s | {F(s.Min)}–{F(s.Max)} s";

    public static string Ratio(Stat s) => $"{G(s.Median)} ({G(s.Min)}–{G(s.Max)})";

    public static string MiB(long bytes) => $"{F(bytes / 1048576.0, "0.0")} MiB";
}

/// <summary>Collects a markdown fragment and appends it to the report file.</summary>
public sealed class Report(string path)
{
    private readonly StringBuilder _sb = new();

    public Report Line(string text = "")
    {
        _sb.AppendLine(text);
        Console.Error.WriteLine(text);
        return this;
    }

    public void Save() => File.AppendAllText(path, _sb.ToString());
}
