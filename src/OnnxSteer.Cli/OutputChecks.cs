using System.CommandLine;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;

namespace OnnxSteer.Cli;

/// <summary>
/// Checks on where a command will write, made before it reads a model or runs one (docs/errors.md, "Outputs"): the
/// folder must be writable, and nothing already there is replaced without <c>--force</c> — models, profiles, exports,
/// adapters, reports, and the sidecars (tokenizer, genai_config.json, data files) a model carries into its folder:
/// a sidecar already there is refused, by name, unless it is the same file or has the same bytes.
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

    /// <summary>
    /// A folder of reports (sweep -o): created if missing; must be writable; each of <paramref name="files"/> already in
    /// it is refused unless <paramref name="force"/>.
    /// </summary>
    public static void ReportFolder(string dir, IEnumerable<string> files, bool force)
    {
        if (System.IO.File.Exists(dir)) throw new CommandLineException($"{dir}: is a file; give a folder", ExitCodes.Usage);
        if (!force && files.Select(f => Path.Combine(dir, f)).FirstOrDefault(System.IO.File.Exists) is { } existing) throw Exists(existing);
        Writable(Path.GetFullPath(dir), dir);
    }

    /// <summary>The files import and synth write into their output folder.</summary>
    public static readonly string[] ModelFolderFiles = [.. Import.ExportResult.FileNames, "special_tokens_map.json"];

    /// <summary>
    /// The output of patch or unpatch (a folder or a .onnx path, resolved as <see cref="ModelLocator.OutputFile"/>
    /// does for <paramref name="modelPath"/>): the model file there is refused unless <paramref name="force"/>.
    /// </summary>
    public static void SteeredModel(string output, string modelPath, bool force)
    {
        var source = ModelLocator.Resolve(modelPath);
        if (System.IO.File.Exists(output) && !output.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            throw new CommandLineException($"{output}: is a file, not a folder or a .onnx path", ExitCodes.Usage);
        var file = ModelLocator.OutputFile(output, source);
        var folder = Path.GetDirectoryName(file)!;
        // The input itself is never an output, --force or not: say so first, not "give --force".
        if (System.IO.File.Exists(file) && System.IO.File.Exists(source)
            && string.Equals(RealPath.Resolve(Path.GetFullPath(file)), RealPath.Resolve(Path.GetFullPath(source)), StringComparison.Ordinal))
            throw new CommandLineException($"{output}: this is the input model itself; the input is never modified, choose another output", ExitCodes.Usage);
        if (!force && System.IO.File.Exists(file)) throw Exists(file);
        if (!force) Sidecars(source, folder, [Path.GetFileName(file)]);
        Writable(folder, output);
    }

    /// <summary>A model folder (import, synth): refused when it already holds any file they write unless <paramref name="force"/>.</summary>
    public static void ModelFolder(string dir, bool force)
    {
        if (System.IO.File.Exists(dir)) throw new CommandLineException($"{dir}: is a file; give a folder", ExitCodes.Usage);
        if (!force && ModelFolderFiles.Select(f => Path.Combine(dir, f)).FirstOrDefault(System.IO.File.Exists) is { } existing) throw Exists(existing);
        Writable(Path.GetFullPath(dir), dir);
    }

    /// <summary>
    /// The files a model carries from its folder into another one (patch, unpatch, repack: genai_config.json, tokenizer
    /// files, data files; every plain visible file beside <paramref name="sourceModel"/> except itself and steering data):
    /// one already in <paramref name="outputFolder"/> that is neither the same file nor byte-equal is refused by name, as
    /// carrying it would replace it. <paramref name="written"/> are names the command writes itself (checked apart).
    /// </summary>
    public static void Sidecars(string sourceModel, string outputFolder, IReadOnlyCollection<string> written)
    {
        var sourceDir = Path.GetDirectoryName(Path.GetFullPath(sourceModel))!;
        if (!Directory.Exists(sourceDir) || !Directory.Exists(outputFolder)) return;
        if (string.Equals(RealPath.Resolve(sourceDir), RealPath.Resolve(Path.GetFullPath(outputFolder)), StringComparison.Ordinal)) return;
        foreach (var from in Directory.EnumerateFiles(sourceDir).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(from);
            if (name.StartsWith('.') || name == Path.GetFileName(sourceModel) || written.Contains(name)
                || name.EndsWith(PatchedModel.FoldedDataSuffix, StringComparison.Ordinal)) continue;
            RefuseReplacing(from, Path.Combine(outputFolder, name));
        }
        foreach (var from in ModelLocator.RepositoryRootFiles(sourceModel))
            if (!written.Contains(Path.GetFileName(from)) && !System.IO.File.Exists(Path.Combine(sourceDir, Path.GetFileName(from))))
                RefuseReplacing(from, Path.Combine(outputFolder, Path.GetFileName(from)));
    }

    private static void RefuseReplacing(string from, string there)
    {
        if (System.IO.File.Exists(there) && !SameBytes(from, there))
            throw new CommandLineException($"{there}: already exists and differs from {from}, which the model carries there; give --force to replace it", ExitCodes.Usage);
    }

    private static bool SameBytes(string a, string b)
    {
        if (string.Equals(RealPath.Resolve(a), RealPath.Resolve(b), StringComparison.Ordinal)) return true;
        var (fa, fb) = (new FileInfo(a), new FileInfo(b));
        if (fa.Length != fb.Length) return false;
        using var sa = fa.OpenRead();
        using var sb = fb.OpenRead();
        Span<byte> ba = stackalloc byte[8192], bb = stackalloc byte[8192];
        while (true)
        {
            var n = sa.ReadAtLeast(ba, ba.Length, throwOnEndOfStream: false);
            var m = sb.ReadAtLeast(bb, bb.Length, throwOnEndOfStream: false);
            if (n != m || !ba[..n].SequenceEqual(bb[..m])) return false;
            if (n == 0) return true;
        }
    }

    /// <summary>
    /// After a forced patch or unpatch: a <c>&lt;model&gt;.steer.data</c> the new model does not use (left by an earlier
    /// <c>--fold</c> into the same place) is removed, so the folder holds only what the model references.
    /// </summary>
    public static string? RemoveStaleSteerData(WriteResult written)
    {
        var stale = written.ModelFile + PatchedModel.FoldedDataSuffix;
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
            return ModelLocator.DataFiles(modelFile);
        }
        catch (OnnxSteerException) { return []; }
    }

    /// <summary>Deletes each of <paramref name="candidates"/> not in <paramref name="keep"/> (compared by real path); returns those deleted.</summary>
    public static IReadOnlyList<string> RemoveUnused(IEnumerable<string> candidates, IEnumerable<string> keep)
    {
        var kept = keep.Select(RealPath.Resolve).ToHashSet(StringComparer.Ordinal);
        var removed = new List<string>();
        foreach (var file in candidates.Distinct(StringComparer.Ordinal))
        {
            if (!System.IO.File.Exists(file) || kept.Contains(RealPath.Resolve(file))) continue;
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
