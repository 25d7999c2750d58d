using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.ModelFiles;

/// <summary>Round trips every model of Debian's libonnx-testdata (real files written by the ONNX tools).</summary>
public sealed class LibOnnxRoundTripTests(ITestOutputHelper output) : IDisposable
{
    public const string DataRoot = Requirements.LibOnnxDataRoot;
    public const int ExpectedModelCount = 1072;
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    public static string[] ModelFiles() =>
        Directory.Exists(DataRoot) ? Directory.GetFiles(DataRoot, "*.onnx", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray() : [];

    [LibOnnxFact]
    public void EveryModelSurvivesLoadSaveLoad()
    {
        var files = ModelFiles();
        Assert.Equal(ExpectedModelCount, files.Length);
        int canonical = 0, withInitializers = 0, externalChecked = 0;
        var notCanonical = new List<string>();
        var failures = new List<string>();
        foreach (var file in files)
        {
            var bytes = File.ReadAllBytes(file);
            var model = OnnxModel.Load(file);
            var original = model.Proto.Clone();
            var target = _temp["rt.onnx"];
            model.Save(target);
            var again = OnnxModel.Load(target);
            if (!again.Proto.Equals(original)) failures.Add($"{file}: not equal after load/save/load");
            var written = File.ReadAllBytes(target);
            if (written.AsSpan().SequenceEqual(bytes)) canonical++;
            else notCanonical.Add(file);
            // Re-serialising what we wrote must be a fixed point even where the input was not canonical.
            if (!again.Proto.ToByteArray().AsSpan().SequenceEqual(written)) failures.Add($"{file}: second serialisation differs");

            if (original.Graph.Initializer.Count > 0 && original.Graph.Initializer.All(t => t.DataType != (int)TensorProto.Types.DataType.String))
            {
                withInitializers++;
                externalChecked += CheckExternalRoundTrip(file, original, failures);
            }
        }
        foreach (var f in notCanonical) output.WriteLine($"not canonical (our bytes differ, protobufs equal): {f}");
        output.WriteLine($"{files.Length} models, {canonical} byte-identical, {notCanonical.Count} not canonical, {withInitializers} with initializers ({externalChecked} tensors checked through external data)");
        Assert.Empty(failures);
        // Every file but the named ones re-serialises to its exact bytes; an exclusion must be explained (see below).
        Assert.Equal(NotCanonical.Keys.Order(StringComparer.Ordinal), notCanonical.Select(f => Path.GetRelativePath(DataRoot, f)));
        Assert.True(withInitializers > 50, $"only {withInitializers} models with initializers");
    }

    /// <summary>Files whose bytes are not what protobuf writes, with the reason (found by comparing the encodings).</summary>
    public static readonly Dictionary<string, string> NotCanonical = new(StringComparer.Ordinal);

    /// <summary>Saves with every initializer external (threshold 0, alignment 64), reloads inline, compares values.</summary>
    private int CheckExternalRoundTrip(string file, ModelProto original, List<string> failures)
    {
        var ext = _temp["ext.onnx"];
        new OnnxModel(original.Clone(), file).Save(ext, SaveOptions.External("ext.data", threshold: 0, alignment: 64));
        var external = OnnxModel.Load(ext);
        var inlinePath = _temp["inline.onnx"];
        external.Save(inlinePath);
        var inline = OnnxModel.Load(inlinePath);
        var checkedCount = 0;
        for (var i = 0; i < original.Graph.Initializer.Count; i++)
        {
            var a = original.Graph.Initializer[i];
            var b = inline.Graph.Initializer[i];
            var aBytes = TensorData.ReadBytes(a, Path.GetDirectoryName(file)!, file);
            var bBytes = TensorData.ReadBytes(b, inline);
            if (!aBytes.AsSpan().SequenceEqual(bBytes) || a.Name != b.Name || !a.Dims.SequenceEqual(b.Dims) || a.DataType != b.DataType)
                failures.Add($"{file}: initializer '{a.Name}' changed through external data");
            if (ExternalDataReference.IsExternal(b) || !b.HasRawData && aBytes.Length > 0)
                failures.Add($"{file}: initializer '{a.Name}' not inline raw data after reload");
            checkedCount++;
        }
        return checkedCount;
    }
}
