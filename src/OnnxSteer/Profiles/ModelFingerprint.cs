using System.Security.Cryptography;
using System.Text;
using Onnx;
using OnnxSteer.ModelFiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Profiles;

/// <summary>
/// A hash of a model's graph structure and its steering sites' shapes, not of its weights: nodes (op, domain, names,
/// inputs, outputs, attributes without tensor payloads), initializer names/types/shapes, graph inputs and outputs,
/// opsets, and each site's id, value, projection and width. Two exports of the same architecture with retrained
/// weights match; a profile recorded on one model is refused on a model with different structure.
/// </summary>
internal static class ModelFingerprint
{
    /// <summary>"sha256:" followed by 64 lower-case hex digits.</summary>
    public static string Compute(OnnxModel model, IEnumerable<SteeringSite> sites)
    {
        var sb = new StringBuilder();
        foreach (var op in model.Proto.OpsetImport.OrderBy(o => o.Domain, StringComparer.Ordinal))
            sb.Append("opset ").Append(op.Domain).Append(' ').Append(op.Version).Append('\n');
        AppendGraph(sb, model.Graph);
        foreach (var s in sites.OrderBy(s => s.Kind).ThenBy(s => s.Layer))
            sb.Append("site ").Append(s.Id).Append(' ').Append(s.ValueName).Append(' ').Append(s.ProjectionNode)
              .Append(' ').Append(s.ProjectionOpType).Append(' ').Append(s.Width).Append(' ').Append(s.ElementType).Append('\n');
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }

    private static void AppendGraph(StringBuilder sb, GraphProto graph)
    {
        sb.Append("graph {\n");
        foreach (var i in graph.Input) sb.Append("in ").Append(i.Name).Append(' ').Append(TypeText(i.Type)).Append('\n');
        foreach (var o in graph.Output) sb.Append("out ").Append(o.Name).Append(' ').Append(TypeText(o.Type)).Append('\n');
        foreach (var t in graph.Initializer) AppendTensorShape(sb.Append("init "), t).Append('\n');
        foreach (var n in graph.Node)
        {
            sb.Append("node ").Append(n.Domain).Append("::").Append(n.OpType).Append(' ').Append(n.Name)
              .Append(" (").Append(string.Join(',', n.Input)).Append(") -> (").Append(string.Join(',', n.Output)).Append(')');
            foreach (var a in n.Attribute.OrderBy(a => a.Name, StringComparer.Ordinal)) AppendAttribute(sb, a);
            sb.Append('\n');
        }
        sb.Append("}\n");
    }

    private static void AppendAttribute(StringBuilder sb, AttributeProto a)
    {
        sb.Append(' ').Append(a.Name).Append('=');
        switch (a.Type)
        {
            case AttributeProto.Types.AttributeType.Float: sb.Append(BitConverter.SingleToInt32Bits(a.F)); break;
            case AttributeProto.Types.AttributeType.Int: sb.Append(a.I); break;
            case AttributeProto.Types.AttributeType.String: sb.Append(Convert.ToHexString(a.S.Span)); break;
            case AttributeProto.Types.AttributeType.Floats: sb.Append(string.Join(',', a.Floats.Select(BitConverter.SingleToInt32Bits))); break;
            case AttributeProto.Types.AttributeType.Ints: sb.Append(string.Join(',', a.Ints)); break;
            case AttributeProto.Types.AttributeType.Strings: sb.Append(string.Join(',', a.Strings.Select(s => Convert.ToHexString(s.Span)))); break;
            // Tensor payloads are weights (e.g. Constant nodes): only their type and shape are structure.
            case AttributeProto.Types.AttributeType.Tensor: AppendTensorShape(sb, a.T); break;
            case AttributeProto.Types.AttributeType.Graph: AppendGraph(sb, a.G); break;
            case AttributeProto.Types.AttributeType.Graphs: foreach (var g in a.Graphs) AppendGraph(sb, g); break;
            default: sb.Append(a.Type); break;
        }
    }

    private static StringBuilder AppendTensorShape(StringBuilder sb, TensorProto t) =>
        sb.Append(t.Name).Append(' ').Append(t.DataType).Append('[').Append(string.Join(',', t.Dims)).Append(']');

    private static string TypeText(TypeProto? type)
    {
        if (type?.TensorType is not { } tt) return type?.ValueCase.ToString() ?? "none";
        var dims = tt.Shape?.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue
            ? d.DimValue.ToString() : d.DimParam) ?? [];
        return $"{tt.ElemType}[{string.Join(',', dims)}]";
    }
}
