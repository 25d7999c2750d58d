using System.Text.RegularExpressions;
using OnnxSteer.ModelFiles;
using OnnxSteer.Tests.Infrastructure;
using Xunit;

namespace OnnxSteer.Tests.ModelFiles;

/// <summary>
/// "Which file is the model" is decided in one place, <see cref="ModelLocator"/>: no other source file names the
/// default model file or reads genai_config.json's choice of file itself (issue 28 item 5).
/// </summary>
public sealed class ModelLocatorOwnershipTests
{
    private static IEnumerable<(string File, int Line, string Text)> Hits(Regex pattern)
    {
        var src = Path.Combine(SharedData.RepoRoot, "src");
        foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(src, file).Replace('\\', '/');
            if (relative.Contains("/obj/") || relative.Contains("/bin/") || relative == "OnnxSteer/ModelFiles/ModelLocator.cs") continue;
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
                if (pattern.IsMatch(lines[i])) yield return (relative, i + 1, lines[i].Trim());
        }
    }

    [Fact]
    public void No_source_file_but_ModelLocator_names_the_default_model_file()
    {
        var hits = Hits(new Regex("\"model\\.onnx\"")).ToList();
        Assert.True(hits.Count == 0, "use ModelLocator (Resolve, Locate, GenaiModelFile, DefaultFileName):\n" + string.Join("\n", hits.Select(h => $"{h.File}:{h.Line}: {h.Text}")));
    }

    [Fact]
    public void No_source_file_but_ModelLocator_reads_the_file_genai_config_names()
    {
        var hits = Hits(new Regex(@"\?\.ModelFileName\b")).ToList();
        Assert.True(hits.Count == 0, "use ModelLocator.GenaiModelFile or Locate:\n" + string.Join("\n", hits.Select(h => $"{h.File}:{h.Line}: {h.Text}")));
    }

    [SharedFact]
    public void Locate_gives_the_file_the_folder_and_its_genai_config()
    {
        var folder = SharedData.TinyGenaiModelDir;
        var location = ModelLocator.Locate(folder);
        Assert.Equal(Path.Combine(folder, ModelLocator.DefaultFileName), location.File);
        Assert.Equal(folder, location.Folder);
        Assert.NotNull(location.Config);
        Assert.Equal(location.File, ModelLocator.GenaiModelFile(folder));
        // A file path: the folder is its folder, and the config beside it is read.
        var byFile = ModelLocator.Locate(location.File);
        Assert.Equal(location.Config!.ContextLength, byFile.Config!.ContextLength);
        Assert.Equal(Path.GetFullPath(folder), byFile.Folder);
        Assert.Throws<InvalidModelException>(() => ModelLocator.Locate(Path.Combine(folder, "no-such")));
    }
}
