using Spectre.Console;

namespace OnnxSteer.Cli;

/// <summary>IProgress that reports on the caller's thread, in order (System.Progress posts to the thread pool).</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}

/// <summary>
/// Progress of a long run on stderr: a Spectre.Console bar when <see cref="CommandIo.ProgressConsole"/> is there (stderr an
/// interactive terminal, colour not turned off), else plain lines (redirected output, tests and logs stay plain).
/// </summary>
internal static class TerminalProgress
{
    /// <summary>
    /// Runs <paramref name="work"/>, which reports (description, done, total) through the action it is given; a bar
    /// shows them on a terminal, plain lines otherwise; nothing when <paramref name="quiet"/>.
    /// </summary>
    public static T Run<T>(CommandIo io, bool quiet, string label, Func<Action<string, int, int>, T> work)
    {
        if (quiet) return work((_, _, _) => { });
        return io.ProgressConsole is { } console ? WithBar(console, label, work) : work(PlainLines(io.Error, label));
    }

    /// <summary>Not a terminal (a pipe, a log, NO_COLOR): a line at most every 10 seconds and at the end, so a long run is never silent.</summary>
    private static Action<string, int, int> PlainLines(TextWriter error, string label)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan? last = null;
        return (stage, done, total) =>
        {
            if (done < total && last is { } l && clock.Elapsed - l < TimeSpan.FromSeconds(10)) return;
            last = clock.Elapsed;
            error.WriteLine($"{label}: {stage}");
        };
    }

    private static T WithBar<T>(IAnsiConsole console, string label, Func<Action<string, int, int>, T> work)
    {
        T result = default!;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask(label, maxValue: 1);
                result = work((stage, done, total) =>
                {
                    bar.MaxValue = Math.Max(1, total);
                    bar.Value = done;
                    bar.Description = Markup.Escape($"{label}: {stage}");
                });
            });
        return result;
    }
}
