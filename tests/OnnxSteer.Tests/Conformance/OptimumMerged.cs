using Google.Protobuf;
using Onnx;
using OnnxSteer.ModelFiles;

namespace OnnxSteer.Tests.Conformance;

/// <summary>
/// An Optimum merged decoder built the way optimum's <c>merge_decoders</c> builds one (optimum/onnx/graph_transformations.py):
/// the main graph holds one If named <c>optimum::if</c> on a new bool [1] input <c>use_cache_branch</c>; its
/// <c>then_branch</c> (graph "with_past") and <c>else_branch</c> (graph "no_past") have no inputs, the decoders' own
/// nodes and outputs, and keep only their scalar and 1-D int initializers; every other initializer (the weights) is
/// deduplicated into the main graph, read by both branches from the outer scope; the If's outputs and the main graph's
/// outputs are the decoder's outputs by name; IR 9, producer optimum-onnx. Here both branches are copies of one
/// with-past decoder (our standard export): fed an empty past, it computes what Optimum's decoder without past does.
/// </summary>
internal static class OptimumMerged
{
    /// <summary>Writes <c>decoder_model_merged.onnx</c> beside <paramref name="withPastFile"/>, sharing its external data; returns the path.</summary>
    public static string Write(string withPastFile, string name = "decoder_model_merged.onnx")
    {
        var source = OnnxModel.Load(withPastFile, checkExternalData: false).Proto;
        var decoder = source.Graph;
        static bool StaysInBranch(TensorProto t) =>
            t.Dims.Count == 0 || (t.Dims.Count == 1 && t.DataType is (int)TensorProto.Types.DataType.Int32 or (int)TensorProto.Types.DataType.Int64);

        GraphProto Branch(string graphName)
        {
            var branch = new GraphProto { Name = graphName };
            branch.Node.Add(decoder.Node.Select(n => n.Clone()));
            branch.Output.Add(decoder.Output.Select(o => o.Clone()));
            branch.Initializer.Add(decoder.Initializer.Where(StaysInBranch).Select(t => t.Clone()));
            return branch;
        }

        var main = new GraphProto { Name = "merged" };
        main.Input.Add(decoder.Input.Select(i => i.Clone()));
        main.Input.Add(new ValueInfoProto
        {
            Name = "use_cache_branch",
            Type = new TypeProto
            {
                TensorType = new TypeProto.Types.Tensor
                {
                    ElemType = (int)TensorProto.Types.DataType.Bool,
                    Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimValue = 1 } } },
                },
            },
        });
        main.Initializer.Add(decoder.Initializer.Where(t => !StaysInBranch(t)).Select(t => t.Clone()));
        var ifNode = new NodeProto { OpType = "If", Name = "optimum::if", Input = { "use_cache_branch" } };
        ifNode.Output.Add(decoder.Output.Select(o => o.Name));
        ifNode.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = Branch("with_past") });
        ifNode.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = Branch("no_past") });
        main.Node.Add(ifNode);
        main.Output.Add(decoder.Output.Select(o => o.Clone()));

        var merged = new ModelProto { IrVersion = 9, ProducerName = "optimum-onnx", Graph = main };
        merged.OpsetImport.Add(source.OpsetImport);
        var path = Path.Combine(Path.GetDirectoryName(withPastFile)!, name);
        File.WriteAllBytes(path, merged.ToByteArray());
        return path;
    }
}
