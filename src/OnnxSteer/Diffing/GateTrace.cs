using Microsoft.ML.OnnxRuntime;
using Google.Protobuf;
using Onnx;
using OnnxSteer.Graph;
using OnnxSteer.ModelFiles;
using OnnxSteer.Patching;
using OnnxSteer.Generation;
using OnnxSteer.Runtime;
using static OnnxSteer.ErrorText;

namespace OnnxSteer.Diffing;

/// <summary>The gate of every dynamically steered site at every position of one sequence.</summary>
/// <param name="Sites">Site identifiers (e.g. <c>mlp.3</c>), in the order of the steering record.</param>
/// <param name="Gates">Gates[s][t]: site s's gate at position t, in [0, 1].</param>
public sealed record GateValues(IReadOnlyList<string> Sites, IReadOnlyList<IReadOnlyList<float>> Gates);

/// <summary>
/// Reads the gates of a <c>patch --dynamic</c> model (<c>generate --show-gates</c>): a copy of the model lists each
/// recorded gate value as an extra output, and one full-sequence run (empty past) returns them at every position. The
/// gates are causal, so they equal those the KV-cache decode computed token by token, up to float rounding.
/// </summary>
public static class GateTrace
{
    /// <summary>Checks, before anything runs, that the model carries dynamic steering gates to trace.</summary>
    /// <param name="modelDirOrFile">The model: a .onnx file or its folder.</param>
    /// <exception cref="InvalidModelException">The model carries no dynamic steering.</exception>
    public static void RequireGates(string modelDirOrFile) => Gated(modelDirOrFile);

    private static (GenaiConfigFile? Config, string File, OnnxModel Model, List<SiteEdit> Gated) Gated(string modelDirOrFile)
    {
        var (file, _, config) = ModelLocator.Locate(modelDirOrFile);
        var model = OnnxModel.Load(file);
        var gated = SteeringMetadata.Read(model.Proto, file).SelectMany(s => s.Edits).Where(e => e.Gate is not null).ToList();
        if (gated.Count == 0) throw new InvalidModelException($"{file}: the model has no dynamic steering gates (onnxsteer patch {Param("dynamic")})");
        return (config, file, model, gated);
    }

    /// <summary>Runs <paramref name="ids"/> through the model at <paramref name="modelDirOrFile"/> and returns its gates.</summary>
    /// <param name="modelDirOrFile">A model patched with dynamic steering: a .onnx file or its folder.</param>
    /// <param name="ids">The token ids of one sequence (prompt and continuation).</param>
    /// <param name="settings">ONNX Runtime settings (device, threads); null: the defaults.</param>
    /// <exception cref="InvalidModelException">The model carries no dynamic steering.</exception>
    public static GateValues Run(string modelDirOrFile, IReadOnlyList<int> ids, RuntimeSettings? settings = null) =>
        RunEach(modelDirOrFile, [ids], settings)[0];

    /// <summary>The gates of each of <paramref name="texts"/>, one run each, all in one session.</summary>
    /// <exception cref="InvalidModelException">The model carries no dynamic steering.</exception>
    public static IReadOnlyList<GateValues> RunEach(string modelDirOrFile, IReadOnlyList<IReadOnlyList<int>> texts, RuntimeSettings? settings = null)
    {
        var (config, file, model, gated) = Gated(modelDirOrFile);

        var proto = model.Proto.Clone();
        var editor = new GraphEditor(proto.Graph);
        var outputs = new List<string>();
        foreach (var edit in gated)
        {
            var cast = editor.NewNode("Cast", $"onnxsteer_gate/{edit.Site}#{outputs.Count}/Cast", [edit.Gate!.Gate], [$"onnxsteer_gate/{edit.Site}#{outputs.Count}"]);
            cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)TensorProto.Types.DataType.Float });
            editor.AppendNode(cast);
            editor.AddGraphOutput(new ValueInfoProto
            {
                Name = cast.Output[0], Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
            outputs.Add(cast.Output[0]);
        }

        var session = (settings ?? RuntimeSettings.Default).OpenSession(proto.ToByteArray(), model.BaseDirectory);
        using var decoder = new DecoderModel(session, DecoderLayout.Detect(session, config, file), config, ownsSession: true);
        var sites = gated.Select(e => e.Site).ToList();
        var all = new List<GateValues>(texts.Count);
        foreach (var ids in texts)
        {
            using var inputs = decoder.CreateInputs(ids);
            using var results = session.RunNamed(inputs.Names, inputs.Values, outputs);
            var gates = new float[gated.Count][];
            for (var s = 0; s < gated.Count; s++)
            {
                var data = results[s].GetTensorDataAsSpan<float>();
                if (data.Length != ids.Count)
                    throw new InvalidModelException($"{file}: the gate of {gated[s].Site} has {data.Length} values for {ids.Count} positions");
                gates[s] = data.ToArray();
            }
            all.Add(new GateValues(sites, Array.ConvertAll(gates, g => (IReadOnlyList<float>)Array.AsReadOnly(g))));
        }
        return all;
    }
}
