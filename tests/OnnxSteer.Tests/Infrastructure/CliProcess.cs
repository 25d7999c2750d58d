using System.Diagnostics;

namespace OnnxSteer.Tests.Infrastructure;

/// <summary>Runs the built CLI as a child process: its exit code, stdout and stderr are the contract under test.</summary>
public static class CliProcess
{
    /// <summary>The CLI assembly copied beside the tests.</summary>
    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "OnnxSteer.Cli.dll");

    /// <summary>
    /// Names an executable to test instead of <c>dotnet OnnxSteer.Cli.dll</c>: <c>ONNXSTEER_TEST_CLI=artifacts/onnxsteer-linux-x64/onnxsteer</c>
    /// (relative to the repository) runs the CLI, serve and docs tests against the Native AOT build of <c>make tool</c> (docs/install.md). Unset: the built assembly.
    /// </summary>
    public static string? Executable => Environment.GetEnvironmentVariable("ONNXSTEER_TEST_CLI") is { Length: > 0 } path ? Path.GetFullPath(path, SharedData.RepoRoot) : null;

    /// <summary>The program and leading arguments that start the CLI under test: <c>dotnet OnnxSteer.Cli.dll</c>, or <see cref="Executable"/>.</summary>
    public static string[] Command => Executable is { } exe ? [exe] : ["dotnet", CliDll];

    /// <summary>A start of the CLI under test with <paramref name="args"/>, its output redirected; callers adjust the environment.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(Command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in Command.Skip(1).Concat(args)) psi.ArgumentList.Add(a);
        return psi;
    }

    /// <summary>Runs <c>dotnet OnnxSteer.Cli.dll ARGS</c> in <paramref name="workingDirectory"/> (null: the current one) and waits.</summary>
    /// <summary>
    /// Starts the CLI with <paramref name="args"/> (and one extra environment variable) without waiting; its output is
    /// drained so it never blocks on a full pipe. For tests that kill it or run several at once.
    /// </summary>
    public static System.Diagnostics.Process Start(IEnumerable<string> args, (string Name, string Value)? environment = null)
    {
        var start = StartInfo(args);
        if (environment is var (name, value)) start.Environment[name] = value;
        var process = System.Diagnostics.Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    public static (int Code, string Stdout, string Stderr) Run(string? workingDirectory, params string[] args) =>
        Exec(Command[0], workingDirectory, [.. Command.Skip(1), .. args]);

    /// <summary>Runs the CLI under test with <paramref name="args"/> and waits; <paramref name="configure"/> may adjust the environment.</summary>
    public static (int Code, string Stdout, string Stderr) RunConfigured(IEnumerable<string> args, Action<ProcessStartInfo> configure) =>
        Exec(Command[0], null, [.. Command.Skip(1), .. args], configure);

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
