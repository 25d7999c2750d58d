using System.Text;
using System.Text.Json;
using OnnxSteer.Inspection;
using OnnxSteer.Sites;

namespace OnnxSteer.Cli.Reports;

/// <summary>
/// Writes a <see cref="ModelSummary"/> as the stable JSON of <c>onnxsteer inspect --json</c> (schema
/// <c>onnxsteer.inspect/1</c>, documented in the README). Fields are written in a fixed order; new fields may be added,
/// existing ones are never renamed or removed within a schema version.
/// </summary>
internal static class SummaryJson
{
    /// <summary>The schema identifier written as the first field.</summary>
    public const string Schema = "onnxsteer.inspect/1";

    /// <summary>The summary as indented JSON text.</summary>
    public static string Write(ModelSummary s)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            WriteHeader(w, s);
            WriteGraph(w, s);
            WriteValues(w, "inputs", s.Inputs);
            WriteValues(w, "outputs", s.Outputs);
            WriteWeights(w, s);
            WriteArray(w, "metadata", s.Metadata, m =>
            {
                w.WriteString("key", m.Key);
                w.WriteString("value", m.Value);
            });
            WriteSites(w, s);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteHeader(Utf8JsonWriter w, ModelSummary s)
    {
        w.WriteString("schema", Schema);
        w.WriteString("model", s.ModelPath);
        w.WriteNumber("irVersion", s.IrVersion);
        w.WriteStartObject("producer");
        w.WriteString("name", s.ProducerName);
        w.WriteString("version", s.ProducerVersion);
        w.WriteEndObject();
        WriteArray(w, "opsets", s.Opsets, o =>
        {
            w.WriteString("domain", o.Domain);
            w.WriteNumber("version", o.Version);
        });
    }

    private static void WriteGraph(Utf8JsonWriter w, ModelSummary s)
    {
        w.WriteStartObject("graph");
        w.WriteString("name", s.GraphName);
        w.WriteNumber("nodes", s.NodeCount);
        WriteArray(w, "opTypes", s.OpTypes, c =>
        {
            w.WriteString("domain", c.Domain);
            w.WriteString("opType", c.OpType);
            w.WriteNumber("count", c.Count);
        });
        w.WriteEndObject();
    }

    private static void WriteWeights(Utf8JsonWriter w, ModelSummary s)
    {
        var i = s.Initializers;
        w.WriteStartObject("initializers");
        w.WriteNumber("count", i.Count);
        w.WriteNumber("inlineCount", i.InlineCount);
        w.WriteNumber("inlineBytes", i.InlineBytes);
        w.WriteNumber("externalCount", i.ExternalCount);
        w.WriteNumber("externalBytes", i.ExternalBytes);
        w.WriteNumber("sparseCount", i.SparseCount);
        w.WriteEndObject();
        WriteArray(w, "dataFiles", s.DataFiles, f =>
        {
            w.WriteString("location", f.Location);
            w.WriteNumber("tensors", f.Tensors);
            w.WriteNumber("referencedBytes", f.ReferencedBytes);
            if (f.SizeOnDisk is { } size) w.WriteNumber("sizeOnDisk", size);
            else w.WriteNull("sizeOnDisk");
            w.WriteBoolean("exists", f.Exists);
        });
    }

    private static void WriteSites(Utf8JsonWriter w, ModelSummary s)
    {
        w.WriteStartObject("siteCounts");
        foreach (var kind in Enum.GetValues<SiteKind>()) w.WriteNumber(kind.ToName(), s.Sites.Sites.Count(x => x.Kind == kind));
        w.WriteEndObject();
        w.WriteStartArray("sites");
        foreach (var site in s.Sites.Sites) WriteSite(w, site);
        w.WriteEndArray();
        w.WriteStartArray("warnings");
        foreach (var warning in s.Sites.Warnings) w.WriteStringValue(warning.ToString());
        w.WriteEndArray();
        if (s.SiteError is null) w.WriteNull("error");
        else w.WriteString("error", s.SiteError);
    }

    /// <summary>An array of objects named <paramref name="name"/>, <paramref name="fields"/> writing each one's fields.</summary>
    private static void WriteArray<T>(Utf8JsonWriter w, string name, IEnumerable<T> items, Action<T> fields)
    {
        w.WriteStartArray(name);
        foreach (var item in items)
        {
            w.WriteStartObject();
            fields(item);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteValues(Utf8JsonWriter w, string name, IReadOnlyList<ValueSummary> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values)
        {
            w.WriteStartObject();
            w.WriteString("name", v.Name);
            w.WriteString("elementType", v.ElementType);
            if (v.Shape is null) w.WriteNull("shape");
            else
            {
                w.WriteStartArray("shape");
                foreach (var d in v.Shape)
                {
                    if (d.Size is { } n) w.WriteNumberValue(n);
                    else if (d.Symbol is { } p) w.WriteStringValue(p);
                    else w.WriteNullValue();
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteSite(Utf8JsonWriter w, SteeringSite site)
    {
        w.WriteStartObject();
        w.WriteString("id", site.Id);
        w.WriteString("kind", site.Kind.ToName());
        w.WriteNumber("layer", site.Layer);
        w.WriteNumber("width", site.Width);
        w.WriteString("elementType", ModelInspector.ElementTypeName(site.ElementType));
        w.WriteNumber("elementTypeCode", site.ElementType);
        w.WriteString("projectionNode", site.ProjectionNode);
        w.WriteString("projectionOpType", site.ProjectionOpType);
        w.WriteString("value", site.ValueName);
        if (site.BiasAddNode is null) w.WriteNull("biasAddNode");
        else w.WriteString("biasAddNode", site.BiasAddNode);
        if (site.Evidence is null) w.WriteNull("evidence");
        else w.WriteString("evidence", site.Evidence);
        w.WriteEndObject();
    }
}
