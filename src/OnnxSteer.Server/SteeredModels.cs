using System.Text.RegularExpressions;
using OnnxSteer.Patching;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Server;

/// <summary>
/// The steered models the server runs, one per named profile: a profile (.json) or control vector (.gguf) is patched
/// at start with <c>--switchable</c> into a private temporary folder (removed on dispose); a folder is taken as a model
/// already patched with <c>--switchable</c>. Requests only ever name these profiles, never a path.
/// </summary>
public sealed partial class SteeredModels : IDisposable
{
    private readonly DirectoryInfo? _temp;

    /// <summary>Profile name to patched model folder.</summary>
    public IReadOnlyDictionary<string, string> Folders { get; }

    /// <summary>The model composed steering runs on (every profile file stacked), or null with fewer than two profile files.</summary>
    public ComposedFolder? Composed { get; }

    /// <summary>A model folder stacked with one <c>--switchable</c> step per profile, in <paramref name="Profiles"/> order.</summary>
    public sealed record ComposedFolder(string Folder, IReadOnlyList<string> Profiles);

    private SteeredModels(Dictionary<string, string> folders, ComposedFolder? composed, DirectoryInfo? temp)
    {
        Folders = folders;
        Composed = composed;
        _temp = temp;
    }

    /// <summary>Allowed profile names: what a request can carry without quoting or path meaning.</summary>
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    public static partial Regex NamePattern();

    /// <summary>Patches (or adopts) each of <paramref name="profiles"/> (name → path) for <paramref name="baseModel"/>.</summary>
    public static SteeredModels Prepare(string baseModel, IReadOnlyDictionary<string, string> profiles, Action<string>? log = null, bool force = false)
    {
        var folders = new Dictionary<string, string>(StringComparer.Ordinal);
        DirectoryInfo? temp = null;
        try
        {
            foreach (var (name, path) in profiles)
            {
                if (!NamePattern().IsMatch(name))
                    throw new InvalidParameterException("profiles", $"{Param("profiles")} {name}: a name is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit");
                if (Directory.Exists(path))
                {
                    folders[name] = Path.GetFullPath(path);
                    log?.Invoke($"profile '{name}': {path} (a patched model folder, used as it is)");
                    continue;
                }
                if (!File.Exists(path)) throw new InvalidInputException($"{path}: no such profile file or model folder");
                temp ??= ServeTempFolders.Create("profiles");
                var output = Path.Combine(temp.FullName, name);
                var outcome = Steerer.Patch(baseModel, path, output, new PatchSettings { Switchable = true, Force = force });
                log?.Invoke($"profile '{name}': {path} patched (switchable) for {baseModel}");
                foreach (var warning in outcome.Warnings) log?.Invoke($"profile '{name}': warning: {warning}");
                folders[name] = output;
            }
            var files = profiles.Where(p => !Directory.Exists(p.Value)).OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
            var composed = files.Count < 2 ? null : Stack(baseModel, files, temp!, log);
            return new SteeredModels(folders, composed, temp);
        }
        catch
        {
            Delete(temp);
            throw;
        }
    }

    /// <summary>
    /// Patches <paramref name="baseModel"/> with each profile file in turn, switchable and stacked, into
    /// <paramref name="temp"/>/composed (keeping only the last model): the model composed requests run on.
    /// </summary>
    private static ComposedFolder Stack(string baseModel, IReadOnlyList<KeyValuePair<string, string>> files, DirectoryInfo temp, Action<string>? log)
    {
        var current = baseModel;
        for (var i = 0; i < files.Count; i++)
        {
            var output = Path.Combine(temp.FullName, i == files.Count - 1 ? "composed" : $"composed-{i}");
            Steerer.Patch(current, files[i].Value, output, new PatchSettings
            {
                Switchable = true, Existing = i == 0 ? ExistingSteering.Refuse : ExistingSteering.Stack,
            });
            if (i > 0) Delete(new DirectoryInfo(current));
            current = output;
        }
        var names = files.Select(f => f.Key).ToList();
        log?.Invoke($"composed steering: {string.Join(", ", names)} stacked (switchable) for {baseModel}");
        return new ComposedFolder(current, names);
    }

    private static void Delete(DirectoryInfo? folder)
    {
        try { folder?.Delete(recursive: true); }
        catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    public void Dispose() => Delete(_temp);
}
