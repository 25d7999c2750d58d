using Google.Protobuf;
using Onnx;

namespace OnnxSteer.ModelFiles;

/// <summary>
/// Rewrites a model whose weights are inline (in <c>raw_data</c> of the model file itself) without ever holding the
/// weights in memory: large initializers are copied from the source file to the output as raw byte ranges, while
/// everything else (nodes, small tensors, metadata) is parsed and re-emitted.
/// <para>Contract:</para>
/// <list type="number">
/// <item><see cref="LoadLean"/> parses a model file like <see cref="OnnxModel.Load"/> except that each graph
/// initializer whose <c>raw_data</c> holds at least <c>minStreamedBytes</c> is not read: it is given an external-data
/// reference into the model file itself (location = the model's file name, offset and length of its <c>raw_data</c>
/// payload). That reference is true (reading it yields the tensor's bytes), so every reader of tensor data keeps
/// working; the tensor is remembered as streamed.</item>
/// <item><see cref="Write"/> serialises a model derived from the lean one: every initializer still equal to its streamed
/// form is written as the source file's original bytes of that TensorProto; any other tensor that still points into
/// the source model file is read and written inline; everything else is serialised normally. The output holds no
/// reference to the source model file.</item>
/// <item>The output is the ordinary serialisation of the same model (load → change → <c>WriteTo</c>) when the source
/// file's initializers are canonically encoded (field order, packing, as Google.Protobuf writes them): byte-identical
/// then, and protobuf-equal otherwise (the copied tensor bytes keep the source's encoding).</item>
/// <item>The source file is only read. A source file that changed between load and write is refused.</item>
/// </list>
/// A model the scanner cannot stream (no or several graph fields, unusual tensor encodings) is loaded fully instead:
/// <see cref="IsStreamed"/> is false and <see cref="Write"/> falls back to <c>WriteTo</c>.
/// </summary>
internal static class StreamingModelRewriter
{
    /// <summary>Initializers with at least this many raw_data bytes are streamed by default.</summary>
    public const long DefaultMinStreamedBytes = 64 * 1024;

    private const int ModelGraphField = 7, GraphInitializerField = 5, TensorRawDataField = 9;

    /// <summary>True when <paramref name="model"/> came from <see cref="LoadLean"/> with at least one streamed tensor.</summary>
    public static bool IsStreamed(OnnxModel model) => model.Streamed is { Tensors.Count: > 0 };

    /// <summary>True when <paramref name="tensor"/> is one of <paramref name="model"/>'s streamed initializers as loaded.</summary>
    public static bool IsStreamedTensor(OnnxModel model, TensorProto tensor) => model.Streamed?.Find(tensor) is not null;

    /// <summary>
    /// Parses <paramref name="path"/> (a model file, or a folder holding model.onnx) leaving the raw_data of large
    /// initializers in the file (see the class contract). External references are checked like <see cref="OnnxModel.Load"/>.
    /// </summary>
    public static OnnxModel LoadLean(string path, long minStreamedBytes = DefaultMinStreamedBytes)
    {
        path = ModelLocator.Resolve(path);
        if (!File.Exists(path)) throw new InvalidModelException($"{path}: no such file");
        path = Path.GetFullPath(path);

        var info = new FileInfo(path);
        var (stamp, length) = (info.LastWriteTimeUtc, info.Length);
        var reduced = new MemoryStream();
        var found = new List<Found>();
        var graphs = 0;
        var streamable = true;
        using (var scan = new WireScanner(path))
        {
            while (scan.Position < scan.Length)
            {
                var tag = scan.ReadVarint();
                var field = (int)(tag >> 3);
                var wire = (int)(tag & 7);
                WireScanner.WriteVarint(reduced, tag);
                if (field == ModelGraphField && wire == WireScanner.LengthDelimited)
                {
                    graphs++;
                    var len = scan.ReadLength(scan.Length);
                    var graph = ScanGraph(scan, scan.Position + len, minStreamedBytes, found, ref streamable);
                    WireScanner.WriteVarint(reduced, (ulong)graph.Length);
                    graph.Position = 0;
                    graph.CopyTo(reduced);
                }
                else scan.CopyValue(wire, reduced, scan.Length);
            }
        }
        if (graphs != 1 || !streamable) return OnnxModel.Load(path);

        reduced.Position = 0;
        var proto = OnnxModel.Parse(reduced, path);
        if (proto.Graph is null) throw new InvalidModelException($"{path}: the model has no graph");

        var fileName = Path.GetFileName(path);
        var tensors = new List<StreamedTensor>();
        foreach (var f in found)
        {
            if (f.Index >= proto.Graph.Initializer.Count) return OnnxModel.Load(path);
            var tensor = proto.Graph.Initializer[f.Index];
            // Only plain inline tensors whose payload is exactly their shape's size become references: anything
            // else would change meaning (or fail the reference check) and is read the ordinary way.
            if (tensor.HasRawData || ExternalDataReference.IsExternal(tensor) || tensor.ExternalData.Count > 0 || TensorData.ByteSize(tensor) != f.PayloadLength)
                return OnnxModel.Load(path);
            new ExternalDataReference(fileName, f.PayloadOffset, f.PayloadLength).ApplyTo(tensor);
            tensors.Add(new StreamedTensor(tensor.Clone(), f.MessageOffset, f.MessageLength));
        }
        var model = new OnnxModel(proto, path) { Streamed = tensors.Count == 0 ? null : new StreamedInitializers(path, stamp, length, tensors) };
        model.CheckExternalData();
        return model;
    }

    /// <summary>A graph initializer whose raw_data was left in the file: where its TensorProto and its payload are.</summary>
    private readonly record struct Found(int Index, long MessageOffset, long MessageLength, long PayloadOffset, long PayloadLength);

    /// <summary>The graph message's bytes with large raw_data fields of initializers left out (recorded in <paramref name="found"/>).</summary>
    private static MemoryStream ScanGraph(WireScanner scan, long end, long minBytes, List<Found> found, ref bool streamable)
    {
        var output = new MemoryStream();
        var index = 0;
        while (scan.Position < end)
        {
            var tag = scan.ReadVarint();
            var field = (int)(tag >> 3);
            var wire = (int)(tag & 7);
            WireScanner.WriteVarint(output, tag);
            if (field == GraphInitializerField && wire == WireScanner.LengthDelimited)
            {
                var len = scan.ReadLength(end);
                var start = scan.Position;
                var tensor = ScanTensor(scan, start + len, minBytes, out var payload, ref streamable);
                if (payload is (long offset, long length)) found.Add(new Found(index, start, len, offset, length));
                WireScanner.WriteVarint(output, (ulong)tensor.Length);
                tensor.Position = 0;
                tensor.CopyTo(output);
                index++;
            }
            else scan.CopyValue(wire, output, end);
        }
        if (scan.Position != end) throw new InvalidModelException($"graph message ends at byte {scan.Position}, expected {end}");
        return output;
    }

    /// <summary>A TensorProto's bytes without its raw_data when that is at least <paramref name="minBytes"/> long
    /// (then <paramref name="payload"/> says where it is).</summary>
    private static MemoryStream ScanTensor(WireScanner scan, long end, long minBytes, out (long, long)? payload, ref bool streamable)
    {
        payload = null;
        var output = new MemoryStream();
        var rawFields = 0;
        while (scan.Position < end)
        {
            var tag = scan.ReadVarint();
            var field = (int)(tag >> 3);
            var wire = (int)(tag & 7);
            if (field == TensorRawDataField && wire == WireScanner.LengthDelimited)
            {
                rawFields++;
                var len = scan.ReadLength(end);
                if (len >= minBytes && rawFields == 1)
                {
                    payload = (scan.Position, len);
                    scan.Seek(scan.Position + len);
                    continue;
                }
                // A second raw_data field (the last one wins in protobuf) is too unusual to stream.
                if (payload is not null) streamable = false;
                WireScanner.WriteVarint(output, tag);
                WireScanner.WriteVarint(output, (ulong)len);
                scan.CopyTo(output, len);
                continue;
            }
            WireScanner.WriteVarint(output, tag);
            scan.CopyValue(wire, output, end);
        }
        if (payload is not null && rawFields > 1) streamable = false;
        return output;
    }

    /// <summary>
    /// Writes <paramref name="result"/> (derived from <paramref name="source"/>, which <see cref="LoadLean"/> produced) to
    /// <paramref name="output"/>, copying streamed initializers from the source file (see the class contract).
    /// <paramref name="result"/> is not modified.
    /// </summary>
    public static void Write(OnnxModel source, ModelProto result, Stream output)
    {
        if (source.Streamed is not { } streamed || result.Graph is null)
        {
            result.WriteTo(output);
            return;
        }
        streamed.CheckUnchanged();

        var model = result.Clone();
        var graph = model.Graph;
        model.Graph = null;

        // Google.Protobuf writes fields in field-number order and unknown fields last, so the canonical encoding is
        // [model fields 1-6][graph = 7][model fields 8+ and unknown], and inside the graph
        // [node 1, name 2][initializer 5][fields 10+ and unknown]: each part is serialised on its own and joined.
        var modelHead = new ModelProto();
        if (model.HasIrVersion) modelHead.IrVersion = model.IrVersion;
        if (model.HasProducerName) modelHead.ProducerName = model.ProducerName;
        if (model.HasProducerVersion) modelHead.ProducerVersion = model.ProducerVersion;
        if (model.HasDomain) modelHead.Domain = model.Domain;
        if (model.HasModelVersion) modelHead.ModelVersion = model.ModelVersion;
        if (model.HasDocString) modelHead.DocString = model.DocString;
        model.ClearIrVersion(); model.ClearProducerName(); model.ClearProducerVersion();
        model.ClearDomain(); model.ClearModelVersion(); model.ClearDocString();

        var graphHead = new GraphProto();
        graphHead.Node.AddRange(graph.Node);
        if (graph.HasName) graphHead.Name = graph.Name;
        var initializers = graph.Initializer.Select(t => Plan(t, streamed)).ToList();
        graph.Node.Clear();
        graph.ClearName();
        graph.Initializer.Clear();

        var modelHeadBytes = modelHead.ToByteArray();
        var graphHeadBytes = graphHead.ToByteArray();
        var graphTailBytes = graph.ToByteArray();
        var modelTailBytes = model.ToByteArray();

        var initTag = (ulong)(GraphInitializerField << 3 | WireScanner.LengthDelimited);
        long graphLength = graphHeadBytes.Length + graphTailBytes.Length;
        foreach (var p in initializers)
            graphLength += WireScanner.VarintSize(initTag) + WireScanner.VarintSize((ulong)p.Length) + p.Length;

        output.Write(modelHeadBytes);
        WireScanner.WriteVarint(output, (ulong)(ModelGraphField << 3 | WireScanner.LengthDelimited));
        WireScanner.WriteVarint(output, (ulong)graphLength);
        output.Write(graphHeadBytes);
        using (var scan = new WireScanner(streamed.SourceFile))
        {
            foreach (var p in initializers)
            {
                WireScanner.WriteVarint(output, initTag);
                WireScanner.WriteVarint(output, (ulong)p.Length);
                if (p.Bytes is not null) output.Write(p.Bytes);
                else
                {
                    scan.Seek(p.SourceOffset);
                    scan.CopyTo(output, p.Length);
                }
            }
        }
        output.Write(graphTailBytes);
        output.Write(modelTailBytes);
        streamed.CheckUnchanged();
    }

    /// <summary>One initializer of the output: bytes to write, or a range of the source file to copy.</summary>
    private sealed record Planned(byte[]? Bytes, long SourceOffset, long Length);

    private static Planned Plan(TensorProto tensor, StreamedInitializers streamed)
    {
        if (streamed.Find(tensor) is { } same) return new Planned(null, same.MessageOffset, same.MessageLength);
        if (streamed.PointsIntoSource(tensor))
        {
            // Changed after loading (renamed, re-shaped...) but still reading the source file: embed its bytes.
            var copy = tensor.Clone();
            var bytes = TensorData.ReadBytes(copy, Path.GetDirectoryName(streamed.SourceFile)!, streamed.SourceFile);
            TensorData.ClearStorage(copy);
            copy.RawData = ByteString.CopyFrom(bytes);
            tensor = copy;
        }
        var b = tensor.ToByteArray();
        return new Planned(b, 0, b.Length);
    }
}

/// <summary>A streamed initializer: its lean form (with the reference into the source file) and where its whole
/// TensorProto message lies in the source file.</summary>
internal sealed record StreamedTensor(TensorProto Lean, long MessageOffset, long MessageLength);

/// <summary>The initializers <see cref="StreamingModelRewriter.LoadLean"/> left in the source file.</summary>
internal sealed class StreamedInitializers
{
    private readonly Dictionary<string, List<StreamedTensor>> _byName = new(StringComparer.Ordinal);
    private readonly DateTime _stamp;
    private readonly long _length;

    public StreamedInitializers(string sourceFile, DateTime stamp, long length, IReadOnlyList<StreamedTensor> tensors)
    {
        SourceFile = sourceFile;
        _stamp = stamp;
        _length = length;
        Tensors = tensors;
        foreach (var t in tensors)
        {
            if (!_byName.TryGetValue(t.Lean.Name, out var list)) _byName[t.Lean.Name] = list = [];
            list.Add(t);
        }
    }

    /// <summary>Full path of the model file the tensors live in.</summary>
    public string SourceFile { get; }

    public IReadOnlyList<StreamedTensor> Tensors { get; }

    /// <summary>The streamed tensor <paramref name="tensor"/> still equals, or null.</summary>
    public StreamedTensor? Find(TensorProto tensor) =>
        _byName.TryGetValue(tensor.Name, out var list) ? list.FirstOrDefault(t => t.Lean.Equals(tensor)) : null;

    /// <summary>True when <paramref name="tensor"/> is external data in the source model file itself.</summary>
    public bool PointsIntoSource(TensorProto tensor) =>
        ExternalDataReference.IsExternal(tensor)
        && tensor.ExternalData.Any(e => e.Key == "location" && e.Value == Path.GetFileName(SourceFile));

    /// <summary>Refuses to go on when the source file changed since it was scanned (its bytes are copied by offset).</summary>
    public void CheckUnchanged()
    {
        var info = new FileInfo(SourceFile);
        if (!info.Exists || info.Length != _length || info.LastWriteTimeUtc != _stamp)
            throw new OnnxSteerException($"{SourceFile}: the model file changed while it was being rewritten; run again");
    }
}
