namespace OnnxSteer.Cli;

/// <summary>
/// Ctrl-C as a cancellation token, for work that stops at its next item and returns (or reports) what finished:
/// the first Ctrl-C cancels the token instead of killing the process, so the command can still write its results.
/// </summary>
public static class CtrlC
{
    /// <summary>Runs <paramref name="work"/> with a token that Ctrl-C cancels.</summary>
    public static T Cancels<T>(Func<CancellationToken, T> work)
    {
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return work(cancel.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>Runs <paramref name="work"/>, which returns nothing, with a token that Ctrl-C cancels.</summary>
    public static void Cancels(Action<CancellationToken> work) => Cancels(token =>
    {
        work(token);
        return true;
    });
}
