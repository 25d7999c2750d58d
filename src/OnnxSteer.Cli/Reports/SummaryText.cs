using System.Text;
using OnnxSteer.Inspection;
using OnnxSteer.Sites;

namespace OnnxSteer.Cli.Reports;

/// <summary>Writes a <see cref="ModelSummary"/> as the readable text of <c>onnxsteer inspect</c>.</summary>
internal static class SummaryText
{
    /// <summary>Longest metadata value shown in full; longer ones are cut (the JSON output has them whole).</summary>
    private const int MaxMetadataChars = 300;

    /// <summary>The summary as plain text, one fact per line.</summary>
    public static string Write(ModelSummary s)
    {
        var o = new StringBuilder();
        WriteHeader(o, s);
        WriteWeights(o, s);
        WriteSites(o, s);
        return o.ToString();
    }

    private static void WriteHeader(StringBuilder o, ModelSummary s)
    {
        o.AppendLine($"model:        {s.ModelPath}");
        o.AppendLine($"ir version:   {s.IrVersion}");
        var producer = $"{s.ProducerName} {s.ProducerVersion}".Trim();
        o.AppendLine($"producer:     {(producer.Length == 0 ? "(none)" : producer)}");
        o.AppendLine($"opsets:       {string.Join(", ", s.Opsets.Select(x => $"{(x.Domain == "" ? "ai.onnx" : x.Domain)} {x.Version}"))}");
        o.AppendLine($"nodes:        {s.NodeCount}");
        o.AppendLine($"op types:     {string.Join(", ", s.OpTypes.Select(c => $"{Qualified(c.Domain, c.OpType)} {c.Count}"))}");
        o.AppendLine("inputs:");
        foreach (var v in s.Inputs) o.AppendLine($"  {v.Name}  {v.ElementType} {Shape(v)}");
        o.AppendLine("outputs:");
        foreach (var v in s.Outputs) o.AppendLine($"  {v.Name}  {v.ElementType} {Shape(v)}");
    }

    private static void WriteWeights(StringBuilder o, ModelSummary s)
    {
        var i = s.Initializers;
        o.AppendLine($"initializers: {i.Count} ({i.InlineCount} inline, {Bytes(i.InlineBytes)}; {i.ExternalCount} external, {Bytes(i.ExternalBytes)})"
                     + (i.SparseCount > 0 ? $", {i.SparseCount} sparse" : ""));
        if (s.DataFiles.Count == 0) o.AppendLine("data files:   (none)");
        else
        {
            o.AppendLine("data files:");
            foreach (var f in s.DataFiles)
                o.AppendLine($"  {f.Location}  {f.Tensors} tensors, {Bytes(f.ReferencedBytes)} referenced, " +
                             (f.SizeOnDisk is { } size ? $"{Bytes(size)} on disk" : "MISSING or outside the model's folder"));
        }
        if (s.Metadata.Count == 0) o.AppendLine("metadata:     (none)");
        else
        {
            o.AppendLine("metadata:");
            foreach (var (key, value) in s.Metadata)
                o.AppendLine($"  {key} = {(value.Length <= MaxMetadataChars ? value : value[..MaxMetadataChars] + $"... ({value.Length} chars; --json shows all)")}");
        }
    }

    private static void WriteSites(StringBuilder o, ModelSummary s)
    {
        var counts = Enum.GetValues<SiteKind>().Select(k => $"{s.Sites.Sites.Count(x => x.Kind == k)} {k.ToName()}");
        o.AppendLine($"sites:        {s.Sites.Sites.Count} ({string.Join(", ", counts)})");
        if (s.Sites.Sites.Count > 0)
        {
            var rows = s.Sites.Sites.Select(x => new[]
            {
                x.Id, x.Width.ToString(), ModelInspector.ElementTypeName(x.ElementType), x.ProjectionOpType,
                x.ProjectionNode.Length == 0 ? "(unnamed)" : x.ProjectionNode, x.ValueName, x.Evidence ?? "-",
            }).Prepend(["site", "width", "dtype", "op", "projection", "value", "evidence"]).ToList();
            // Every column but the last (the evidence, the longest) is padded to its widest cell.
            var last = rows[0].Length - 1;
            var widths = Enumerable.Range(0, last).Select(c => rows.Max(r => r[c].Length)).ToArray();
            foreach (var r in rows)
                o.AppendLine("  " + string.Join("  ", r.Select((cell, c) => c < last ? cell.PadRight(widths[c]) : cell)).TrimEnd());
        }
        foreach (var warning in s.Sites.Warnings) o.AppendLine($"warning: {warning}");
    }

    private static string Qualified(string domain, string op) => domain.Length == 0 ? op : $"{domain}.{op}";

    private static string Shape(ValueSummary v) =>
        v.Shape is null ? "[?]" : $"[{string.Join(", ", v.Shape)}]";

    private static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes} B ({bytes / 1024.0:0.0} KiB)",
        < 1024L * 1024 * 1024 => $"{bytes} B ({bytes / (1024.0 * 1024):0.0} MiB)",
        _ => $"{bytes} B ({bytes / (1024.0 * 1024 * 1024):0.00} GiB)",
    };
}
