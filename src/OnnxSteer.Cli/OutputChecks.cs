using System.CommandLine;
using OnnxSteer.Patching;

namespace OnnxSteer.Cli;

/// <summary>
/// Checks on where a command will write, made before it reads a model or runs one (docs/errors.md, "Outputs"):
/// the folder must be writable, and a model, profile or export already there is replaced only with <c>--force</c>.
/// Reports (diff -o, compare --json, eval --out, sweep --out-dir) are rewritten freely: they are the run's own record.
/// </summary>
public static class OutputChecks
{
    /// <summary>A <c>--force</c> option meaning "replace an existing output".</summary>
    public static Option<bool> ForceOption() => new("--force")
    {
        Description = "Replace an output that already exists (without it an existing output is refused, exit 64).",
    };

    /// <summary>A file output (profile, export): refused when it exists unless <paramref name="force"/>; its folder must be writable.</summary>
    public static void File(string path, bool force)
    {
        if (Directory.Exists(path)) throw new CommandLineException($"{path}: is a folder; give a file name", ExitCodes.Usage);
        if (!force && System.IO.File.Exists(path)) throw Exists(path);
        Writable(Path.GetDirectoryName(Path.GetFullPath(path))!, path);
    }

    /// <summary>A report file: replaced if it exists, but its folder must be writable before the run starts.</summary>
    public static void Report(string path)
    {
        if (Directory.Exists(path)) throw new CommandLineException($"{path}: is a folder; give a file name", ExitCodes.Usage);
        Writable(Path.GetDirectoryName(Path.GetFullPath(path))!, path);
    }

    /// <summary>A folder of reports (sweep --out-dir): created if missing; must be writable.</summary>
    public static void ReportFolder(string dir)
    {
        if (System.IO.File.Exists(dir)) throw new CommandLineException($"{dir}: is a file; give a folder", ExitCodes.Usage);
        Writable(Path.GetFullPath(dir), dir);
    }

    /// <summary>
    /// The output of patch or unpatch (a folder or a .onnx path, resolved as <see cref="SteeredModelWriter.ResolveOutput"/>
    /// does for <paramref name="modelPath"/>): the model file there is refused unless <paramref name="force"/>.
    /// </summary>
    public static void SteeredModel(string output, string modelPath, bool force)
    {
        var source = Directory.Exists(modelPath) ? Path.Combine(modelPath, "model.onnx") : modelPath;
        if (System.IO.File.Exists(output) && !output.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            throw new CommandLineException($"{output}: is a file, not a folder or a .onnx path", ExitCodes.Usage);
        var (folder, file) = SteeredModelWriter.ResolveOutput(output, source);
        if (!force && System.IO.File.Exists(file)) throw Exists(file);
        Writable(folder, output);
    }

    /// <summary>A model folder (import, synth): refused when it already holds a model.onnx unless <paramref name="force"/>.</summary>
    public static void ModelFolder(string dir, bool force)
    {
        if (System.IO.File.Exists(dir)) throw new CommandLineException($"{dir}: is a file; give a folder", ExitCodes.Usage);
        var model = Path.Combine(dir, "model.onnx");
        if (!force && System.IO.File.Exists(model)) throw Exists(model);
        Writable(Path.GetFullPath(dir), dir);
    }

    /// <summary>
    /// After a forced patch or unpatch: a <c>&lt;model&gt;.steer.data</c> the new model does not use (left by an earlier
    /// <c>--fold</c> into the same place) is removed, so the folder holds only what the model references.
    /// </summary>
    public static string? RemoveStaleSteerData(WriteResult written)
    {
        var stale = written.ModelFile + SteeredModelWriter.SteerDataSuffix;
        if (written.DataFile is not null || !System.IO.File.Exists(stale)) return null;
        System.IO.File.Delete(stale);
        return stale;
    }

    /// <summary>
    /// The external data files (full paths) the model at <paramref name="modelFile"/> references; empty when it is not
    /// there or not readable. Taken before a forced repack replaces it, to remove afterwards those the new model and
    /// the input no longer use. Reads no weights.
    /// </summary>
    public static IReadOnlyList<string> DataFilesOf(string modelFile)
    {
        if (!System.IO.File.Exists(modelFile)) return [];
        try
        {
            var model = ModelFiles.OnnxModel.Load(modelFile, checkExternalData: false);
            return model.DataFileLocations().Select(l => Path.GetFullPath(Path.Combine(model.BaseDirectory, l))).ToList();
        }
        catch (OnnxSteerException) { return []; }
    }

    /// <summary>Deletes each of <paramref name="candidates"/> not in <paramref name="keep"/> (compared by real path); returns those deleted.</summary>
    public static IReadOnlyList<string> RemoveUnused(IEnumerable<string> candidates, IEnumerable<string> keep)
    {
        var kept = keep.Select(ModelFiles.RealPath.Resolve).ToHashSet(StringComparer.Ordinal);
        var removed = new List<string>();
        foreach (var file in candidates.Distinct(StringComparer.Ordinal))
        {
            if (!System.IO.File.Exists(file) || kept.Contains(ModelFiles.RealPath.Resolve(file))) continue;
            System.IO.File.Delete(file);
            removed.Add(file);
        }
        return removed;
    }

    private static CommandLineException Exists(string path) =>
        new($"{path}: already exists; give --force to replace it", ExitCodes.Usage);

    /// <summary>
    /// Creates and removes a probe file in <paramref name="dir"/>, or in its nearest existing parent when it does not
    /// exist yet (the command creates it): the only test that also catches read-only mounts and ACLs.
    /// </summary>
    private static void Writable(string dir, string userPath)
    {
        var existing = dir;
        while (!Directory.Exists(existing))
        {
            if (System.IO.File.Exists(existing))
                throw new CommandLineException($"{userPath}: cannot write there: '{existing}' is a file, not a folder", ExitCodes.Usage);
            existing = Path.GetDirectoryName(existing);
            if (existing is null) return;
        }
        var probe = Path.Combine(existing, $".onnxsteer-write-check.{Environment.ProcessId}.{Guid.NewGuid():N}");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var reason = e is UnauthorizedAccessException ? "permission denied" : e.Message.Split(" : '")[0].TrimEnd('.');
            throw new CommandLineException($"{userPath}: cannot write there ({reason})", ExitCodes.Failure);
        }
    }
}
