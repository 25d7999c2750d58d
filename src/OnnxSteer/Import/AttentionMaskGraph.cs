using Onnx;
using static OnnxSteer.Import.GraphBuilder;

namespace OnnxSteer.Import;

/// <summary>Node names for <see cref="AttentionMaskGraph.Additive"/>: each export style keeps its own naming convention.</summary>
internal sealed record AttentionMaskNames(
    string IdsShape, string Seq, string MaskShape, string Total, string Past, string KeyRange, string QueryRange,
    string QueryColumn, string Causal, string Padding, string Padding4d, string Visible, string Where);

/// <summary>The additive causal + padding mask both export styles feed to attention, built once for both.</summary>
internal static class AttentionMaskGraph
{
    /// <summary>
    /// Additive mask [batch, 1, seq, total]: 0 where key position j is visible from query i (j &lt;= past + i and
    /// attention_mask[b, j] = 1), the dtype's lowest value elsewhere. Returns the mask's value name.
    /// </summary>
    public static string Additive(GraphBuilder g, bool fp16, AttentionMaskNames n)
    {
        string idsShape = g.Op("Shape", n.IdsShape, ["input_ids"]);
        string seq = g.Op("Gather", n.Seq, [idsShape, g.Int64(1)], Attr("axis", 0L));
        string maskShape = g.Op("Shape", n.MaskShape, ["attention_mask"]);
        string total = g.Op("Gather", n.Total, [maskShape, g.Int64(1)], Attr("axis", 0L));
        string past = g.Op("Sub", n.Past, [total, seq]);
        string keyPositions = g.Op("Range", n.KeyRange, [g.Int64(0), total, g.Int64(1)]);
        string queryPositions = g.Op("Range", n.QueryRange, [past, total, g.Int64(1)]);
        string queryColumn = g.Op("Unsqueeze", n.QueryColumn, [queryPositions, g.Int64s(1)]);
        string causal = g.Op("LessOrEqual", n.Causal, [keyPositions, queryColumn]);
        string padding = g.Op("Cast", n.Padding, ["attention_mask"], Attr("to", (long)TensorProto.Types.DataType.Bool));
        string padding4d = g.Op("Unsqueeze", n.Padding4d, [padding, g.Int64s(1, 2)]);
        string visible = g.Op("And", n.Visible, [causal, padding4d]);
        float lowest = fp16 ? -65504f : float.MinValue;
        return g.Op("Where", n.Where, [visible, g.Float(0f, fp16), g.Float(lowest, fp16)]);
    }
}
