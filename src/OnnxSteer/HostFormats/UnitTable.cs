using System.Globalization;
using System.Text;
using System.Text.Json;
using OnnxSteer.IO;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;

namespace OnnxSteer.HostFormats;

/// <summary>
/// One row of a profile's selection, flattened for notebooks. For unit methods (austeer, actdiff, random) a row is a
/// selected unit and <see cref="Value"/> is gamma (the activation becomes (1 + gamma)·x); for caa it is one entry of a
/// vector and <see cref="Value"/> is the offset added (rows ranked by |offset|, which is also the score).
/// </summary>
/// <param name="Rank">1-based position: the profile's order for units, descending |offset| for caa.</param>
/// <param name="Site">Site id, e.g. <c>mlp-out.3</c>.</param>
/// <param name="Kind">attn, mlp or mlp-out.</param>
/// <param name="Layer">0-based decoder layer.</param>
/// <param name="Index">Unit index within the site.</param>
/// <param name="Operation"><c>scale</c> or <c>add</c>.</param>
/// <param name="Score">The ranking score (caa: |offset|).</param>
/// <param name="RPos">Fraction of pairs with pos − neg &gt; 0; null when the profile holds no pairs (imported vectors).</param>
/// <param name="RNeg">Fraction of pairs with pos − neg &lt; 0; null likewise.</param>
/// <param name="Value">gamma (scale) or the offset (add).</param>
/// <param name="P">Two-sided sign-test p of the unit's momentum counts; null without pairs.</param>
/// <param name="PAdjusted"><paramref name="P"/> after Bonferroni over the units ranked together (scaled units only).</param>
/// <param name="EffectSize">mean/sd of pos − neg; null when undefined or the profile lacks the sums (schema /1).</param>
/// <param name="MeanPos">Mean activation on the positive side; null when the profile lacks the sums.</param>
/// <param name="MeanNeg">Mean activation on the negative side; null likewise.</param>
internal sealed record UnitRow(int Rank, string Site, string Kind, int Layer, int Index, string Operation, double Score, double? RPos, double? RNeg, double Value,
    double? P = null, double? PAdjusted = null, double? EffectSize = null, double? MeanPos = null, double? MeanNeg = null);

/// <summary>
/// Exports a profile's selection as CSV or JSON (schema <c>onnxsteer.units/1</c>). Numbers are written in round-trip form,
/// so reading them back gives the profile's values exactly.
/// </summary>
internal static class UnitTable
{
    /// <summary>The JSON schema identifier.</summary>
    public const string SchemaId = "onnxsteer.units/1";

    /// <summary>The CSV header line (without the newline).</summary>
    public const string CsvHeader = "rank,site,kind,layer,index,operation,score,r_pos,r_neg,value,p,p_adj,effect,mean_pos,mean_neg";

    /// <summary>The rows of <paramref name="profile"/>'s selection.</summary>
    public static IReadOnlyList<UnitRow> Rows(SteeringProfile profile)
    {
        var rows = new List<UnitRow>();
        if (profile.Method != SteeringMethod.Caa)
        {
            var rank = 0;
            foreach (var u in profile.Units)
            {
                var kind = profile.Site(u.Site)?.Kind.ToName() ?? u.Site.Split('.')[0];
                rows.Add(new UnitRow(++rank, u.Site, kind, u.Layer, u.Index, "scale", u.Score, u.RPos, u.RNeg, u.Gamma,
                    u.P, u.PAdjusted, u.EffectSize, u.MeanPos, u.MeanNeg));
            }
            return rows;
        }

        var entries = new List<(string Site, SiteKind Kind, int Layer, int Index, float Value, double? RPos, double? RNeg, UnitStats Stats)>();
        foreach (var v in profile.Caa)
        {
            var site = profile.Site(v.Site);
            var stats = profile.StatisticsOf(v.Site);
            for (var i = 0; i < v.Vector.Length; i++)
            {
                if (v.Vector[i] == 0f) continue;
                double? rPos = null, rNeg = null;
                var evidence = default(UnitStats);
                if (profile.Pairs > 0 && stats is not null)
                {
                    rPos = (double)stats.Positive[i] / profile.Pairs;
                    rNeg = (double)stats.Negative[i] / profile.Pairs;
                    evidence = UnitStats.Of(stats, i, profile.Pairs);
                }
                entries.Add((v.Site, site?.Kind ?? SiteKind.MlpOut, v.Layer, i, v.Vector[i], rPos, rNeg, evidence));
            }
        }
        var r = 0;
        foreach (var e in entries.OrderByDescending(e => Math.Abs(e.Value)).ThenBy(e => e.Layer).ThenBy(e => e.Kind).ThenBy(e => e.Index))
            rows.Add(new UnitRow(++r, e.Site, e.Kind.ToName(), e.Layer, e.Index, "add", Math.Abs(e.Value), e.RPos, e.RNeg, e.Value,
                e.Stats.P, null, e.Stats.EffectSize, e.Stats.MeanPos, e.Stats.MeanNeg));
        return rows;
    }

    /// <summary>The evidence of one entry of a caa vector (no Bonferroni: a vector is not a choice among units).</summary>
    private readonly record struct UnitStats(double? P, double? EffectSize, double? MeanPos, double? MeanNeg)
    {
        public static UnitStats Of(SiteStatistics s, int i, int pairs) => new(
            UnitEvidence.SignTestP(s.Positive[i], s.Negative[i]),
            s.HasEvidenceSums ? UnitEvidence.EffectSize(s.SumDiff![i], s.SumSqDiff![i], pairs) : null,
            s.HasEvidenceSums ? UnitEvidence.Mean(s.SumActivationPos![i], pairs) : null,
            s.HasEvidenceSums ? UnitEvidence.Mean(s.SumActivationNeg![i], pairs) : null);
    }

    /// <summary>The CSV text: <see cref="CsvHeader"/>, then one line per row; an absent value (r_pos, p, effect, ...) is an empty field.</summary>
    public static string ToCsv(IReadOnlyList<UnitRow> rows)
    {
        var sb = new StringBuilder(CsvHeader).Append('\n');
        foreach (var r in rows)
            sb.Append(r.Rank.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(r.Site).Append(',').Append(r.Kind).Append(',')
              .Append(r.Layer.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(r.Index.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(r.Operation).Append(',')
              .Append(Number(r.Score)).Append(',')
              .Append(r.RPos is { } p ? Number(p) : "").Append(',')
              .Append(r.RNeg is { } n ? Number(n) : "").Append(',')
              .Append(Number(r.Value)).Append(',')
              .Append(Optional(r.P)).Append(',').Append(Optional(r.PAdjusted)).Append(',').Append(Optional(r.EffectSize)).Append(',')
              .Append(Optional(r.MeanPos)).Append(',').Append(Optional(r.MeanNeg)).Append('\n');
        return sb.ToString();
    }

    /// <summary>The JSON document: the profile's method, selection settings and fingerprint, and the rows.</summary>
    public static byte[] ToJson(SteeringProfile profile, IReadOnlyList<UnitRow> rows)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("schema", SchemaId);
            w.WriteString("modelFingerprint", profile.ModelFingerprint);
            if (profile.ModelFile is not null) w.WriteString("modelFile", profile.ModelFile);
            w.WriteString("method", profile.Method.ToName());
            w.WriteNumber("k", profile.Selection.K);
            w.WriteNumber("alpha", profile.Selection.Alpha);
            w.WriteNumber("pairs", profile.Pairs);
            w.WriteStartArray("units");
            foreach (var r in rows)
            {
                w.WriteStartObject();
                w.WriteNumber("rank", r.Rank);
                w.WriteString("site", r.Site);
                w.WriteString("kind", r.Kind);
                w.WriteNumber("layer", r.Layer);
                w.WriteNumber("index", r.Index);
                w.WriteString("operation", r.Operation);
                w.WriteNumber("score", r.Score);
                if (r.RPos is { } p) w.WriteNumber("rPos", p); else w.WriteNull("rPos");
                if (r.RNeg is { } n) w.WriteNumber("rNeg", n); else w.WriteNull("rNeg");
                w.WriteNumber("value", r.Value);
                WriteOptional(w, "p", r.P);
                WriteOptional(w, "pAdjusted", r.PAdjusted);
                WriteOptional(w, "effectSize", r.EffectSize);
                WriteOptional(w, "meanPos", r.MeanPos);
                WriteOptional(w, "meanNeg", r.MeanNeg);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return stream.ToArray();
    }

    /// <summary>Writes the rows of <paramref name="profile"/> to <paramref name="path"/> as CSV, atomically.</summary>
    public static void WriteCsv(SteeringProfile profile, string path) => AtomicFile.WriteAllText(path, ToCsv(Rows(profile)));

    /// <summary>Writes the rows of <paramref name="profile"/> to <paramref name="path"/> as JSON, atomically.</summary>
    public static void WriteJson(SteeringProfile profile, string path) => AtomicFile.WriteAllBytes(path, ToJson(profile, Rows(profile)));

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static string Optional(double? value) => value is { } v ? Number(v) : "";

    private static void WriteOptional(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v) w.WriteNumber(name, v); else w.WriteNull(name);
    }
}
