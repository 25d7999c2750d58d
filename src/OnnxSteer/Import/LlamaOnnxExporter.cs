using Google.Protobuf;
using Onnx;
using OnnxSteer.IO;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Import;

/// <summary>
/// Writes a Llama decoder as model.onnx + model.onnx.data + genai_config.json in either export style and dtype.
/// Weights stream from the <see cref="ILlamaWeights"/> through <see cref="ExternalDataWriter"/> into the data file (written
/// under a temporary name and renamed when complete), so the
/// model is never held in memory.
/// </summary>
internal static class LlamaOnnxExporter
{
    /// <summary>File name of the graph.</summary>
    public const string ModelFileName = ModelLocator.DefaultFileName;
    /// <summary>File name of the external weights.</summary>
    public const string DataFileName = ModelFileName + ".data";

    /// <summary>Exports <paramref name="weights"/> into <paramref name="outputDirectory"/>.</summary>
    public static ExportResult Export(ILlamaWeights weights, string outputDirectory, ExportStyle style, ExportDType dtype,
        GenaiConfigTokens tokens)
    {
        weights.Config.Validate();
        Directory.CreateDirectory(outputDirectory);
        string modelPath = Path.Combine(outputDirectory, ModelFileName), dataPath = Path.Combine(outputDirectory, DataFileName);

        GraphProto graph;
        long dataBytes;
        using (var data = new ExternalDataWriter(outputDirectory, DataFileName))
        {
            var sink = new WeightSink(data);
            graph = style == ExportStyle.Genai
                ? new GenaiGraphWriter(weights, sink, dtype).Build()
                : new StandardGraphWriter(weights, sink, dtype).Build();
            dataBytes = data.Length;
            data.Commit(); // the data file first, then the model that points into it
        }

        var model = new ModelProto
        {
            IrVersion = 10,
            ProducerName = "onnxsteer",
            ProducerVersion = typeof(LlamaOnnxExporter).Assembly.GetName().Version?.ToString() ?? "0",
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
        if (style == ExportStyle.Genai) model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "onnxsteer.export_style", Value = style.Name() });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "onnxsteer.export_dtype", Value = dtype.Name() });
        AtomicFile.WriteAllBytes(modelPath, model.ToByteArray());

        AtomicFile.WriteAllText(Path.Combine(outputDirectory, GenaiConfig.FileName), style == ExportStyle.Genai
            ? GenaiConfig.Build(GenaiGraphWriter.GraphConfig(weights.Config), !GenaiGraphWriter.UsesGroupQueryAttention(weights.Config), tokens)
            : GenaiConfig.Build(weights.Config, hasPositionIds: true, tokens));
        return new ExportResult(Path.GetFullPath(outputDirectory), Path.GetFullPath(modelPath), Path.GetFullPath(dataPath), dataBytes);
    }
}
