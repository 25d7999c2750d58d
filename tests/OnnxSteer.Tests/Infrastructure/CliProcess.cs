using System.Diagnostics;

namespace OnnxSteer.Tests.Infrastructure;

/// <summary>Runs the built CLI as a child process: its exit code, stdout and stderr are the contract under test.</summary>
public static class CliProcess
{
    /// <summary>The CLI assembly copied beside the tests.</summary>
    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "OnnxSteer.Cli.dll");

    /// <summary>Runs <c>dotnet OnnxSteer.Cli.dll ARGS</c> in <paramref name="workingDirectory"/> (null: the current one) and waits.</summary>
    /// <summary>
    /// Starts the CLI with <paramref name="args"/> (and one extra environment variable) without waiting; its output is
    /// drained so it never blocks on a full pipe. For tests that kill it or run several at once.
    /// </summary>
    public static System.Diagnostics.Process Start(IEnumerable<string> args, (string Name, string Value)? environment = null)
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(CliDll);
        foreach (var a in args) start.ArgumentList.Add(a);
        if (environment is var (name, value)) start.Environment[name] = value;
        var process = System.Diagnostics.Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    public static (int Code, string Stdout, string Stderr) Run(string? workingDirectory, params string[] args) =>
        Exec("dotnet", workingDirectory, [CliDll, .. args]);

    /// <summary>
    /// Runs any program with <paramref name="args"/> and waits; <paramref name="configure"/> may adjust the start info
    /// (e.g. the environment).
    /// </summary>
    public static (int Code, string Stdout, string Stderr) Exec(string fileName, string? workingDirectory, IEnumerable<string> args,
        Action<ProcessStartInfo>? configure = null)
    {
        var psi = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        foreach (var a in args) psi.ArgumentList.Add(a);
        configure?.Invoke(psi);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
