using System.Collections.Concurrent;
using Google.Protobuf;
using Onnx;
using OnnxSteer.Import;
using OnnxSteer.ModelFiles;
using OnnxSteer.Tests.Infrastructure;

namespace OnnxSteer.Tests.Conformance;

/// <summary>One export structure as a user downloads it: the model file, whether its folder has a genai_config.json.</summary>
/// <param name="Name">The structure, as the tests and docs/models.md name it.</param>
/// <param name="ModelFile">The .onnx file (in its folder, beside the tokenizer).</param>
/// <param name="Genai">The folder has a genai_config.json that onnxruntime-genai runs.</param>
/// <param name="FoldTolerance">Largest |Δlogit| between fold and Mul, relative to the largest |logit| (weights rounded
/// to their stored type: fp32 1e-5, fp16 or re-quantised blocks more).</param>
public sealed record ExportStructure(string Name, string ModelFile, bool Genai, double FoldTolerance)
{
    public override string ToString() => Name;
}

/// <summary>
/// The conformance structures, each built once per test run into a temporary folder removed when the process exits:
/// tiny decoders (the onnxruntime-genai builder's graphs: 2 layers, hidden 32, head size 16 so GroupQueryAttention
/// runs on CPU, 2 query heads over 1 KV head, vocabulary 512; Optimum/transformers.js graphs: stories260K) with each
/// exporter's structure transcribed in <see cref="GenaiBuilderVariants"/>, <see cref="NBitsQuantizer"/> and here.
/// </summary>
internal static class ExportStructures
{
    /// <summary>Every structure <see cref="Get"/> builds.</summary>
    public static readonly string[] Names =
    [
        "genai-fp32", "genai-fp16", "genai-int4", "genai-k-quant-mixed", "genai-phi3.5-longrope", "genai-gemma2", "genai-mistral",
        "genai-qwen3-qk-norm", "genai-gemma3-qk-norm",
        "optimum-inline", "optimum-onnx_data", "optimum-gpt2", "optimum-gpt-neox", "transformers.js-q4f16",
    ];

    private static readonly string Root = Path.Combine(Path.GetTempPath(), $"onnxsteer-conformance-{Environment.ProcessId}-{Guid.NewGuid():N}");
    private static readonly ConcurrentDictionary<string, Lazy<ExportStructure>> Built = new();

    static ExportStructures()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true); }
            catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
    }

    public static ExportStructure Get(string name) => Built.GetOrAdd(name, n => new Lazy<ExportStructure>(() => Build(n))).Value;

    private static ExportStructure Build(string name)
    {
        var folder = Path.Combine(Root, name);
        return name switch
        {
            "genai-fp32" => new(name, Path.Combine(Genai(ExportDType.Fp32), "model.onnx"), true, 1e-5),
            "genai-fp16" => new(name, Path.Combine(Genai(ExportDType.Fp16), "model.onnx"), true, 4e-3),
            // builder.py to_int4 with the default algo config: symmetric, block 32, accuracy level 4 (CPU); lm_head too.
            "genai-int4" => Write(Genai(ExportDType.Fp32), folder, NBitsQuantizer.Quantize(FloatGenai(2),
                new NBitsQuantizer.Settings(_ => 4, Symmetric: true, AccuracyLevel: 4)), genai: true, 1e-4),
            // make_int4_algo_config("k_quant_mixed"): 8 bits for qkv/v_proj and down_proj in layers l < L/8, l ≥ 7L/8 and
            // (l − round(L/8)) % 3 == 2, and lm_head; 4 bits elsewhere; k-quant is asymmetric. 8 layers: 0, 3, 6, 7 in 8 bits.
            "genai-k-quant-mixed" => Write(Genai(ExportDType.Fp32, 8), folder, NBitsQuantizer.Quantize(FloatGenai(8),
                new NBitsQuantizer.Settings(KQuantMixedBits(8), Symmetric: false, AccuracyLevel: 4)), genai: true, 1e-4),
            "genai-phi3.5-longrope" => Write(Genai(ExportDType.Fp32), folder, GenaiBuilderVariants.Phi3Longrope(FloatGenai(2), originalContext: 16), genai: true, 1e-5),
            "genai-gemma2" => Write(Genai(ExportDType.Fp32), folder, GenaiBuilderVariants.Gemma2(FloatGenai(2), window: 6), genai: true, 1e-5),
            "genai-qwen3-qk-norm" => Write(Genai(ExportDType.Fp32), folder, GenaiBuilderVariants.QkNorm(Embedded(Genai(ExportDType.Fp32)), headSize: 16), genai: true, 1e-5),
            "genai-gemma3-qk-norm" => Write(Genai(ExportDType.Fp32), folder, GenaiBuilderVariants.QkNorm(GenaiBuilderVariants.Gemma2(FloatGenai(2), window: 6), headSize: 16), genai: true, 1e-5),
            // Not in Names: steered only in part (see RefusedStructureTests).
            "genai-moe" => Write(Genai(ExportDType.Fp32), folder, GenaiBuilderVariants.MixtureOfExperts(FloatGenai(2)), genai: false, 1e-5),
            "genai-sliding-window-cache" => SlidingWindowCache(folder, window: 6),
            "genai-multi-file" => MultiFile(folder),
            "genai-moe-fused" => Write(Genai(ExportDType.Fp32), folder, GenaiBuilderVariants.FusedMixtureOfExperts(FloatGenai(2)), genai: false, 1e-5),
            "encoder-decoder" => Write(Genai(ExportDType.Fp32), folder, GenaiBuilderVariants.EncoderDecoder(FloatGenai(2), heads: 2), genai: false, 1e-5),
            "genai-mistral" => Write(Genai(ExportDType.Fp32), folder, GenaiBuilderVariants.Mistral(FloatGenai(2), window: 6), genai: true, 1e-5),
            "optimum-inline" => Write(Standard(ExportDType.Fp32), folder, Embedded(Standard(ExportDType.Fp32)), genai: false, 1e-5),
            "optimum-onnx_data" => OnnxData(folder),
            "optimum-gpt2" => Write(Standard(ExportDType.Fp32), folder, Gpt2Family.Build(neox: false), genai: false, 1e-5),
            "optimum-gpt-neox" => Write(Standard(ExportDType.Fp32), folder, Gpt2Family.Build(neox: true), genai: false, 1e-5),
            "transformers.js-q4f16" => TransformersJsQ4f16(folder),
            _ => throw new ArgumentOutOfRangeException(nameof(name), name),
        };
    }

    /// <summary>The k_quant_mixed bit widths for a model of <paramref name="layers"/> layers, by MatMul node name.</summary>
    public static Func<string, int?> KQuantMixedBits(int layers)
    {
        var eight = Enumerable.Range(0, layers)
            .Where(i => i < layers / 8.0 || i >= 7 * layers / 8.0 || (i - (int)Math.Round(layers / 8.0)) % 3 == 2)
            .SelectMany(i => new[] { $"/model/layers.{i}/attn/qkv_proj/MatMul", $"/model/layers.{i}/attn/v_proj/MatMul", $"/model/layers.{i}/mlp/down_proj/MatMul" })
            .Append("/lm_head/MatMul")
            .ToHashSet();
        return node => eight.Contains(node) ? 8 : 4;
    }

    /// <summary>A genai-builder-style synthetic Llama (our importer), written once per dtype and layer count.</summary>
    private static string Genai(ExportDType dtype, int layers = 2) => Shared($"base-genai-{dtype}-{layers}", folder =>
        SyntheticModel.Write(new LlamaConfig(Dim: 32, HiddenDim: 64, Layers: layers, Heads: 2, KvHeads: 1, VocabSize: 512, MaxSequenceLength: 64),
            seed: 27, folder, ExportStyle.Genai, dtype));

    private static OnnxModel FloatGenai(int layers) => OnnxModel.Load(Path.Combine(Genai(ExportDType.Fp32, layers), "model.onnx"));

    /// <summary>stories260K in the standard (Optimum/torch.onnx) style.</summary>
    private static string Standard(ExportDType dtype) => ImportedModels.Get(ExportStyle.Standard, dtype);

    private static readonly ConcurrentDictionary<string, Lazy<string>> Bases = new();

    private static string Shared(string key, Action<string> write) => Bases.GetOrAdd(key, k => new Lazy<string>(() =>
    {
        var folder = Path.Combine(Root, k);
        write(folder);
        return folder;
    })).Value;

    private static ModelProto Embedded(string folder)
    {
        var model = OnnxModel.Load(Path.Combine(folder, "model.onnx"));
        var proto = model.Proto.Clone();
        ExportEdits.EmbedExternalData(proto.Graph, model);
        return proto;
    }

    /// <summary>
    /// <paramref name="proto"/> as <paramref name="file"/> in <paramref name="folder"/>, with <paramref name="source"/>'s
    /// tokenizer files at the folder's root and, when <paramref name="genai"/>, its genai_config.json.
    /// </summary>
    private static ExportStructure Write(string source, string folder, ModelProto proto, bool genai, double foldTolerance, string file = "model.onnx")
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(folder, file))!);
        foreach (var f in Directory.GetFiles(source).Where(f => Path.GetFileName(f).StartsWith("tokenizer") || (genai && Path.GetFileName(f) == ModelLocator.GenaiConfig)))
            File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        File.WriteAllBytes(Path.Combine(folder, file), proto.ToByteArray());
        return new ExportStructure(Path.GetFileName(folder), Path.Combine(folder, file), genai, foldTolerance);
    }

    /// <summary>
    /// The newest genai builder on Gemma-2 (opset 21, ir 10, as all our genai graphs): the local layers' attention with
    /// a window-sized KV cache (<see cref="GenaiBuilderVariants.SlidingWindowCache"/>) and genai_config.json's
    /// decoder.sliding_window naming them (window_size, slide_key_value_cache and slide_inputs false, layers, cache_slack 0).
    /// </summary>
    private static ExportStructure SlidingWindowCache(string folder, int window)
    {
        var structure = Write(Genai(ExportDType.Fp32), folder,
            GenaiBuilderVariants.SlidingWindowCache(GenaiBuilderVariants.Gemma2(FloatGenai(2), window)), genai: true, 1e-5);
        var configPath = Path.Combine(folder, ModelLocator.GenaiConfig);
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))!;
        config["model"]!["decoder"]!["sliding_window"] = new System.Text.Json.Nodes.JsonObject
        {
            ["window_size"] = window, ["slide_key_value_cache"] = false, ["slide_inputs"] = false,
            ["layers"] = new System.Text.Json.Nodes.JsonArray(0), ["cache_slack"] = 0,
        };
        File.WriteAllText(configPath, config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return structure;
    }

    /// <summary>
    /// A multi-file onnxruntime-genai pipeline (the builder with exclude_embeds, as the Phi-3-vision / Phi-4-multimodal
    /// folders ship it): genai_config.json's decoder ('decoder.onnx') takes <c>inputs_embeds</c> instead of input_ids;
    /// its <c>embedding</c> section names 'embedding.onnx' (input_ids → Gather → inputs_embeds) and its <c>vision</c>
    /// section 'vision.onnx' (a stand-in here: the decoder never reads it).
    /// </summary>
    private static ExportStructure MultiFile(string folder)
    {
        var proto = Embedded(Genai(ExportDType.Fp32));
        var g = proto.Graph;
        var embedding = g.Node.Single(n => n.Name == "/model/embed_tokens/Gather");
        var table = g.Initializer.Single(t => t.Name == embedding.Input[0]);
        var hidden = table.Dims[1];
        foreach (var reader in g.Node)
            for (var i = 0; i < reader.Input.Count; i++)
                if (reader.Input[i] == embedding.Output[0] || reader.Input[i] == "input_ids") reader.Input[i] = "inputs_embeds";
        g.Node.Remove(embedding);
        g.Initializer.Remove(table);
        var ids = g.Input.Single(i => i.Name == "input_ids");
        var embeds = new ValueInfoProto
        {
            Name = "inputs_embeds",
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = new TensorShapeProto { Dim =
            {
                new TensorShapeProto.Types.Dimension { DimParam = "batch_size" }, new TensorShapeProto.Types.Dimension { DimParam = "sequence_length" },
                new TensorShapeProto.Types.Dimension { DimValue = hidden },
            } } } },
        };
        g.Input[g.Input.IndexOf(ids)] = embeds;
        var structure = Write(Genai(ExportDType.Fp32), folder, proto, genai: true, 1e-5, file: "decoder.onnx");

        var embedModel = new ModelProto { IrVersion = proto.IrVersion, OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 21 } }, Graph = new GraphProto { Name = "embedding" } };
        embedModel.Graph.Initializer.Add(table);
        embedModel.Graph.Input.Add(ids);
        embedModel.Graph.Node.Add(ExportEdits.Node("Gather", "/model/embed_tokens/Gather", [table.Name, "input_ids"], ["inputs_embeds"]));
        embedModel.Graph.Output.Add(embeds.Clone());
        File.WriteAllBytes(Path.Combine(folder, "embedding.onnx"), embedModel.ToByteArray());
        var vision = new ModelProto { IrVersion = proto.IrVersion, OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 21 } }, Graph = new GraphProto { Name = "vision" } };
        vision.Graph.Input.Add(new ValueInfoProto { Name = "pixel_values", Type = embeds.Type.Clone() });
        vision.Graph.Node.Add(ExportEdits.Node("Identity", "/vision/Identity", ["pixel_values"], ["image_features"]));
        vision.Graph.Output.Add(new ValueInfoProto { Name = "image_features", Type = embeds.Type.Clone() });
        File.WriteAllBytes(Path.Combine(folder, "vision.onnx"), vision.ToByteArray());

        var configPath = Path.Combine(folder, ModelLocator.GenaiConfig);
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))!;
        var model = config["model"]!;
        model["type"] = "phi3v";
        var decoder = model["decoder"]!;
        decoder["filename"] = "decoder.onnx";
        var inputs = decoder["inputs"]!.AsObject();
        inputs.Remove("input_ids");
        inputs["inputs_embeds"] = "inputs_embeds";
        model["embedding"] = new System.Text.Json.Nodes.JsonObject
        {
            ["filename"] = "embedding.onnx",
            ["inputs"] = new System.Text.Json.Nodes.JsonObject { ["input_ids"] = "input_ids", ["image_features"] = "image_features" },
            ["outputs"] = new System.Text.Json.Nodes.JsonObject { ["inputs_embeds"] = "inputs_embeds" },
        };
        model["vision"] = new System.Text.Json.Nodes.JsonObject
        {
            ["filename"] = "vision.onnx",
            ["inputs"] = new System.Text.Json.Nodes.JsonObject { ["pixel_values"] = "pixel_values" },
            ["outputs"] = new System.Text.Json.Nodes.JsonObject { ["image_features"] = "image_features" },
        };
        File.WriteAllText(configPath, config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return structure;
    }

    /// <summary>torch.onnx / Optimum with external data: every weight in <c>model.onnx_data</c> beside <c>model.onnx</c>.</summary>
    private static ExportStructure OnnxData(string folder)
    {
        var source = Standard(ExportDType.Fp32);
        var proto = OnnxModel.Load(Path.Combine(source, "model.onnx")).Proto.Clone();
        foreach (var entry in proto.Graph.Initializer.SelectMany(t => t.ExternalData).Where(e => e.Key == "location"))
            entry.Value = "model.onnx_data";
        var structure = Write(source, folder, proto, genai: false, 1e-5);
        File.Copy(Path.Combine(source, "model.onnx.data"), Path.Combine(folder, "model.onnx_data"));
        return structure;
    }

    /// <summary>
    /// transformers.js q4f16 (scripts/quantize.py): MatMul4BitsQuantizer (symmetric, block 32, no accuracy level) then
    /// onnxconverter-common's float16 conversion with keep_io_types: weights, scales and activations float16, the
    /// graph's float inputs and outputs float32 through Casts ('graph_input_cast{i}' → 'graph_input_cast_{i}',
    /// 'graph_output_cast_{i}' → 'graph_output_cast{i}'); in <c>onnx/model_q4f16.onnx</c>, the tokenizer one folder up.
    /// </summary>
    private static ExportStructure TransformersJsQ4f16(string folder)
    {
        var fp16 = OnnxModel.Load(Path.Combine(Standard(ExportDType.Fp16), "model.onnx"));
        var proto = NBitsQuantizer.Quantize(fp16, new NBitsQuantizer.Settings(_ => 4, Symmetric: true));
        var g = proto.Graph;
        const int F16 = (int)TensorProto.Types.DataType.Float16, F32 = (int)TensorProto.Types.DataType.Float;
        var casts = new List<NodeProto>();
        var i = 0;
        foreach (var input in g.Input.Where(v => v.Type.TensorType.ElemType == F16))
        {
            var cast = ExportEdits.Node("Cast", $"graph_input_cast{i}", [input.Name], [$"graph_input_cast_{i}"], "", ExportEdits.Int("to", F16));
            foreach (var reader in g.Node)
                for (var j = 0; j < reader.Input.Count; j++)
                    if (reader.Input[j] == input.Name) reader.Input[j] = cast.Output[0];
            input.Type.TensorType.ElemType = F32;
            casts.Add(cast);
            i++;
        }
        for (var c = casts.Count - 1; c >= 0; c--) g.Node.Insert(0, casts[c]);
        i = 0;
        foreach (var output in g.Output.Where(v => v.Type.TensorType.ElemType == F16))
        {
            // The float16 value keeps flowing inside under its new name; only the Cast writes the output's name.
            foreach (var node in g.Node)
            {
                for (var j = 0; j < node.Output.Count; j++) if (node.Output[j] == output.Name) node.Output[j] = $"graph_output_cast_{i}";
                for (var j = 0; j < node.Input.Count; j++) if (node.Input[j] == output.Name) node.Input[j] = $"graph_output_cast_{i}";
            }
            g.Node.Add(ExportEdits.Node("Cast", $"graph_output_cast{i}", [$"graph_output_cast_{i}"], [output.Name], "", ExportEdits.Int("to", F32)));
            output.Type.TensorType.ElemType = F32;
            i++;
        }
        return Write(Standard(ExportDType.Fp16), folder, proto, genai: false, 4e-3, file: "onnx/model_q4f16.onnx");
    }
}
