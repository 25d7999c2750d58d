using System.Text;
using System.Text.Json;
using OnnxSteer.Sites;

namespace OnnxSteer.Inspection;

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
            w.WriteString("schema", Schema);
            w.WriteString("model", s.ModelPath);
            w.WriteNumber("irVersion", s.IrVersion);
            w.WriteStartObject("producer");
            w.WriteString("name", s.ProducerName);
            w.WriteString("version", s.ProducerVersion);
            w.WriteEndObject();
            w.WriteStartArray("opsets");
            foreach (var o in s.Opsets)
            {
                w.WriteStartObject();
                w.WriteString("domain", o.Domain);
                w.WriteNumber("version", o.Version);
                w.WriteEndObject();
            }
            w.WriteEndArray();

            w.WriteStartObject("graph");
            w.WriteString("name", s.GraphName);
            w.WriteNumber("nodes", s.NodeCount);
            w.WriteStartArray("opTypes");
            foreach (var c in s.OpTypes)
            {
                w.WriteStartObject();
                w.WriteString("domain", c.Domain);
                w.WriteString("opType", c.OpType);
                w.WriteNumber("count", c.Count);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();

            WriteValues(w, "inputs", s.Inputs);
            WriteValues(w, "outputs", s.Outputs);

            var i = s.Initializers;
            w.WriteStartObject("initializers");
            w.WriteNumber("count", i.Count);
            w.WriteNumber("inlineCount", i.InlineCount);
            w.WriteNumber("inlineBytes", i.InlineBytes);
            w.WriteNumber("externalCount", i.ExternalCount);
            w.WriteNumber("externalBytes", i.ExternalBytes);
            w.WriteNumber("sparseCount", i.SparseCount);
            w.WriteEndObject();

            w.WriteStartArray("dataFiles");
            foreach (var f in s.DataFiles)
            {
                w.WriteStartObject();
                w.WriteString("location", f.Location);
                w.WriteNumber("tensors", f.Tensors);
                w.WriteNumber("referencedBytes", f.ReferencedBytes);
                if (f.SizeOnDisk is { } size) w.WriteNumber("sizeOnDisk", size);
                else w.WriteNull("sizeOnDisk");
                w.WriteBoolean("exists", f.Exists);
                w.WriteEndObject();
            }
            w.WriteEndArray();

            w.WriteStartArray("metadata");
            foreach (var (key, value) in s.Metadata)
            {
                w.WriteStartObject();
                w.WriteString("key", key);
                w.WriteString("value", value);
                w.WriteEndObject();
            }
            w.WriteEndArray();

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
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
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
                    switch (d)
                    {
                        case long n: w.WriteNumberValue(n); break;
                        case string p: w.WriteStringValue(p); break;
                        default: w.WriteNullValue(); break;
                    }
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
