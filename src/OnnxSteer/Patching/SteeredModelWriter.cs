using Google.Protobuf;
using Onnx;
using OnnxSteer.IO;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Patching;

/// <summary>What <see cref="SteeredModelWriter.Write"/> produced.</summary>
/// <param name="ModelFile">Full path of the written model.</param>
/// <param name="DataFile">The new external data file holding rewritten (folded) tensors, or null.</param>
/// <param name="Linked">Files carried along as hard links (names relative to the output folder).</param>
/// <param name="Copied">Files carried along as copies (hard linking was not possible).</param>
public sealed record WriteResult(string ModelFile, string? DataFile, IReadOnlyList<string> Linked, IReadOnlyList<string> Copied);

/// <summary>
/// Writes a patched or unpatched model where the user asked (a folder, or a file path), without ever rewriting
/// external data that did not change:
/// <list type="bullet">
/// <item>same folder as the source: the model references the same data files;</item>
/// <item>another folder: data files and sidecars (genai_config.json, tokenizer files, ...) are hard-linked, or copied
/// with a notice where the file system cannot link;</item>
/// <item>rewritten (folded) tensors whose originals were external go to a new data file <c>&lt;model&gt;.steer.data</c>.</item>
/// </list>
/// All files are staged under temporary names and renamed into place only when everything is ready, the model last;
/// on error every staged file is removed. The source model and its files are never modified.
/// </summary>
internal static class SteeredModelWriter
{
    /// <summary>Suffix of the data file for rewritten tensors.</summary>
    public const string SteerDataSuffix = ".steer.data";

    /// <summary>Tensors at least this large go to the data file when the model is not already all-inline.</summary>
    private const long InlineLimit = 1 << 20;

    /// <summary>
    /// Writes <paramref name="result"/> (derived from <paramref name="source"/>, which must have been loaded from a file)
    /// to <paramref name="output"/>. <paramref name="rewritten"/> names initializers whose data is new (embedded in
    /// <paramref name="result"/>); <paramref name="notice"/> receives lines for the user.
    /// </summary>
    public static WriteResult Write(OnnxModel source, OnnxModel result, IReadOnlyCollection<string> rewritten, string output,
        Action<WarningText>? notice = null)
    {
        var sourceFile = source.FilePath ?? throw new ArgumentException("the source model has no file", nameof(source));
        var sourceDir = Path.GetFullPath(source.BaseDirectory);
        var (outDir, outFile) = ResolveOutput(output, sourceFile);
        if (SameFile(outFile, sourceFile))
            throw new InvalidParameterException("output", $"{output}: this is the input model itself; the input is never modified, choose another output");
        var sameDir = SameFile(outDir, sourceDir);

        var proto = result.Proto.Clone();
        var steerDataName = Path.GetFileName(outFile) + SteerDataSuffix;
        var needed = ReferencedDataFiles(proto, sourceFile);
        var streamed = StreamingModelRewriter.IsStreamed(source);
        if (streamed)
        {
            // A lean-loaded inline model: its large initializers point into the source model file until the streaming
            // writer copies them into the output, so that file is not a data file to carry.
            if (rewritten.Count > 0)
                throw new ArgumentException("a lean-loaded model cannot have rewritten (folded) tensors: load it with OnnxModel.Load", nameof(source));
            needed.Remove(Path.GetFileName(sourceFile));
        }
        if (needed.Contains(steerDataName))
            throw new OnnxSteerException($"{Path.Combine(outDir, steerDataName)}: the input model's weights live in this file; choose another output name");

        var staging = new Staging(outDir);
        try
        {
            string? dataFile = null;
            var toExternal = ChooseExternal(source, proto, rewritten);
            if (toExternal.Count > 0)
            {
                using (var writer = new ExternalDataWriter(staging.DataFolder, steerDataName))
                {
                    foreach (var tensor in toExternal) writer.Write(tensor, tensor.RawData.Span);
                    writer.Commit();
                }
                staging.Adopt(steerDataName);
                dataFile = Path.Combine(outDir, steerDataName);
            }

            var linked = new List<string>();
            var copied = new List<string>();
            if (!sameDir)
            {
                foreach (var (from, name) in FilesToCarry(sourceDir, sourceFile, needed, Path.GetFileName(outFile), steerDataName, outDir))
                {
                    if (!File.Exists(from))
                        throw new InvalidModelException($"{sourceFile}: external data file '{name}' is missing");
                    if (staging.Carry(from, name)) linked.Add(name);
                    else
                    {
                        copied.Add(name);
                        notice?.Invoke($"copied {name} ({new FileInfo(from).Length / 1048576.0:0.0} MiB): the output folder is on another file system, so it could not be hard-linked");
                    }
                }
            }

            staging.WriteModel(Path.GetFileName(outFile), streamed ? source : null, proto);
            staging.Commit();
            WarnAboutGenaiConfig(outDir, outFile, notice);
            return new WriteResult(outFile, dataFile, linked, copied);
        }
        catch (IOException e) when (!IoFailure.NamesAFile(e))
        {
            // E.g. a full disk while copying a carried file: .NET names no file, the user's output is what failed.
            staging.Abort();
            throw IoFailure.Naming(e, outFile);
        }
        catch
        {
            staging.Abort();
            throw;
        }
    }

    /// <summary>
    /// <paramref name="output"/> as (folder, model file): an existing folder, a path ending in a separator, or a path
    /// without the .onnx extension is a folder (the model keeps its file name); anything else is a file path.
    /// </summary>
    public static (string Folder, string File) ResolveOutput(string output, string sourceFile)
    {
        var file = ModelLocator.OutputFile(output, sourceFile);
        return (Path.GetDirectoryName(file)!, file);
    }

    /// <summary>Data files the written model needs: those its tensors reference, and those of the original tensors
    /// recorded for unpatching (so the output can always be unpatched).</summary>
    private static HashSet<string> ReferencedDataFiles(ModelProto proto, string modelFile)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        void Add(TensorProto t)
        {
            if (ExternalDataReference.IsExternal(t)) names.Add(ExternalDataReference.Parse(t, modelFile).Location);
        }
        foreach (var t in proto.Graph.Initializer) Add(t);
        foreach (var step in SteeringMetadata.Read(proto, modelFile))
            foreach (var edit in step.Edits)
                foreach (var t in edit.ParseOriginalTensors()) Add(t);
        return names;
    }

    /// <summary>Rewritten tensors to store in the new data file: those whose source tensor was external, and large ones
    /// when the source keeps any weight outside the model file.</summary>
    private static List<TensorProto> ChooseExternal(OnnxModel source, ModelProto proto, IReadOnlyCollection<string> rewritten)
    {
        var sourceTensors = source.Proto.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var anyExternal = source.Proto.Graph.Initializer.Any(ExternalDataReference.IsExternal);
        var set = new HashSet<string>(rewritten, StringComparer.Ordinal);
        return proto.Graph.Initializer
            .Where(t => set.Contains(t.Name) && t.HasRawData)
            .Where(t => (sourceTensors.TryGetValue(t.Name, out var s) && ExternalDataReference.IsExternal(s))
                        || (anyExternal && t.RawData.Length >= InlineLimit))
            .ToList();
    }

    /// <summary>
    /// Files carried into another folder: the data files the model needs, plus every other plain file beside the source
    /// (genai_config.json, tokenizer files, other models of a multi-model folder), except the source model itself,
    /// hidden files, files the output writes, and steering data files the output no longer needs.
    /// </summary>
    private static IEnumerable<(string From, string Name)> FilesToCarry(string sourceDir, string sourceFile, HashSet<string> needed,
        string outName, string steerDataName, string outDir)
    {
        var beside = FilesBeside(sourceDir, sourceFile, needed, outName, steerDataName);
        var carried = beside.Select(name => (Path.Combine(sourceDir, name), name)).ToList();
        // transformers.js keeps the tokenizer one folder above onnx/: the copy takes it beside the model, so it runs on its
        // own; a file of the same name beside the model wins, and nothing is carried onto itself.
        foreach (var from in ModelLocator.RepositoryRootFiles(sourceFile))
        {
            var name = Path.GetFileName(from);
            if (!beside.Contains(name) && name != outName && !SameFile(Path.GetDirectoryName(from)!, outDir)) carried.Add((from, name));
        }
        return carried;
    }

    private static SortedSet<string> FilesBeside(string sourceDir, string sourceFile, HashSet<string> needed, string outName, string steerDataName)
    {
        var result = new SortedSet<string>(needed, StringComparer.Ordinal);
        foreach (var path in Directory.EnumerateFiles(sourceDir))
        {
            var name = Path.GetFileName(path);
            if (name.StartsWith('.') || SameFile(path, sourceFile)) continue;
            if (name == outName || name == steerDataName) continue;
            if (name.EndsWith(SteerDataSuffix, StringComparison.Ordinal) && !needed.Contains(name)) continue;
            if ((File.GetAttributes(path) & FileAttributes.ReparsePoint) != 0 && !needed.Contains(name)) continue;
            result.Add(name);
        }
        result.Remove(outName);
        result.Remove(steerDataName);
        return result;
    }

    private static void WarnAboutGenaiConfig(string outDir, string outFile, Action<WarningText>? notice)
    {
        var config = Path.Combine(outDir, "genai_config.json");
        if (notice is null || !File.Exists(config)) return;
        var text = File.ReadAllText(config);
        var name = Path.GetFileName(outFile);
        if (!text.Contains($"\"{name}\"", StringComparison.Ordinal))
            notice($"note: {config} does not name {name}; onnxruntime-genai will load the model file it names, not the steered one (write to a folder to keep the name)");
    }

    private static bool SameFile(string a, string b)
    {
        var fa = Path.GetFullPath(a).TrimEnd(Path.DirectorySeparatorChar);
        var fb = Path.GetFullPath(b).TrimEnd(Path.DirectorySeparatorChar);
        if (string.Equals(fa, fb, StringComparison.Ordinal)) return true;
        try { return string.Equals(RealPath.Resolve(fa), RealPath.Resolve(fb), StringComparison.Ordinal); }
        catch (IOException) { return false; }
    }

    /// <summary>
    /// Files written under temporary names and renamed on <see cref="Commit"/>. A folder that does not exist yet is
    /// built whole under a hidden temporary name beside it and renamed at once.
    /// </summary>
    private sealed class Staging
    {
        private readonly string _target;
        private readonly bool _wholeFolder;
        private readonly List<(string Temp, string Final)> _files = [];
        private readonly List<string> _createdParents = [];
        private string? _modelTemp, _modelFinal;

        /// <summary>Where files are written before commit.</summary>
        public string Folder { get; }

        public Staging(string target)
        {
            _target = target;
            _wholeFolder = !Directory.Exists(target);
            if (_wholeFolder)
            {
                var parent = Path.GetDirectoryName(target)!;
                for (var p = parent; !Directory.Exists(p); p = Path.GetDirectoryName(p)!) _createdParents.Add(p);
                Directory.CreateDirectory(parent);
                Folder = Path.Combine(parent, $".{Path.GetFileName(target)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
                Directory.CreateDirectory(Folder);
            }
            else Folder = target;
        }

        private string? _dataFolder;

        /// <summary>A folder for data writers that commit under the final file name: the staging folder itself, or a
        /// hidden folder inside an existing target, so nothing there is replaced before <see cref="Commit"/>.</summary>
        public string DataFolder
        {
            get
            {
                if (_wholeFolder) return Folder;
                if (_dataFolder is null)
                {
                    _dataFolder = Path.Combine(Folder, $".onnxsteer.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
                    Directory.CreateDirectory(_dataFolder);
                }
                return _dataFolder;
            }
        }

        /// <summary>Takes a file written into <see cref="DataFolder"/> into the commit.</summary>
        public void Adopt(string name)
        {
            if (!_wholeFolder) _files.Add((Path.Combine(DataFolder, name), Path.Combine(Folder, name)));
        }

        /// <summary>Links (true) or copies (false) <paramref name="from"/> to <paramref name="name"/>.</summary>
        public bool Carry(string from, string name)
        {
            var final = Path.Combine(Folder, name);
            Directory.CreateDirectory(Path.GetDirectoryName(final)!);
            var temp = _wholeFolder ? final : AtomicFile.TempNameFor(final);
            if (!_wholeFolder) _files.Add((temp, final));
            if (HardLink.TryCreate(from, temp)) return true;
            File.Copy(from, temp);
            return false;
        }

        /// <summary>Writes the model; with <paramref name="streamedSource"/>, its inline weights are copied from that
        /// model's file as byte ranges (<see cref="StreamingModelRewriter"/>) instead of serialised from memory.</summary>
        public void WriteModel(string name, OnnxModel? streamedSource, ModelProto proto)
        {
            _modelFinal = Path.Combine(Folder, name);
            _modelTemp = _wholeFolder ? _modelFinal : AtomicFile.TempNameFor(_modelFinal);
            using var stream = new FileStream(_modelTemp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
            if (streamedSource is not null) StreamingModelRewriter.Write(streamedSource, proto, stream);
            else proto.WriteTo(stream);
            stream.Flush(flushToDisk: true);
        }

        public void Commit()
        {
            if (_wholeFolder)
            {
                Directory.Move(Folder, _target);
                return;
            }
            foreach (var (temp, final) in _files)
            {
                File.Move(temp, final, overwrite: true);
                // rename(2) does nothing when both names are links to one file (a data file carried again into a
                // folder it was carried to before), leaving the temporary name behind.
                AtomicFile.TryDelete(temp);
            }
            // The model lands last, so it never points at data that is not there yet.
            File.Move(_modelTemp!, _modelFinal!, overwrite: true);
            _files.Clear();
            _modelTemp = null;
            RemoveDataFolder();
        }

        private void RemoveDataFolder()
        {
            if (_dataFolder is null) return;
            try { Directory.Delete(_dataFolder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }

        public void Abort()
        {
            if (_wholeFolder)
            {
                try { Directory.Delete(Folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
                foreach (var p in _createdParents)
                    try { Directory.Delete(p); } catch (IOException) { } catch (UnauthorizedAccessException) { }
                return;
            }
            foreach (var (temp, _) in _files) AtomicFile.TryDelete(temp);
            if (_modelTemp is not null) AtomicFile.TryDelete(_modelTemp);
            RemoveDataFolder();
        }
    }
}
