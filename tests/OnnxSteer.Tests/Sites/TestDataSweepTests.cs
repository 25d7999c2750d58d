using OnnxSteer.ModelFiles;
using OnnxSteer.Sites;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Sites;

/// <summary>The finder on every model of Debian's libonnx-testdata: it must never crash, whatever the graph.</summary>
public class TestDataSweepTests(ITestOutputHelper output)
{
    private const string Root = Requirements.LibOnnxDataRoot;

    [LibOnnxFact]
    public void ScanNeverFailsOnRealGraphs()
    {
        var files = Directory.EnumerateFiles(Root, "model.onnx", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        var scanned = 0;
        var withSites = new List<string>();
        foreach (var file in files)
        {
            OnnxModel model;
            try { model = OnnxModel.Load(file); }
            catch (InvalidModelException) { continue; }
            var report = SiteFinder.Scan(model);
            scanned++;
            if (report.Sites.Count > 0)
                withSites.Add($"{Path.GetRelativePath(Root, Path.GetDirectoryName(file)!)}: {string.Join(", ", report.Sites.Select(s => $"{s.Id} w{s.Width} {s.ProjectionOpType}"))}");
        }
        output.WriteLine($"scanned {scanned} of {files.Count}; with sites: {withSites.Count}");
        foreach (var line in withSites) output.WriteLine(line);
        Assert.True(scanned > 1000, $"only {scanned} models loaded");
        // None of these is a transformer decoder: any site found would be a false positive.
        Assert.Empty(withSites);
    }
}
