using OnnxSteer.Numerics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxSteer.IO;
using OnnxSteer.Pairs;

namespace OnnxSteer.Evaluation;

/// <summary>A model evaluated against another on the same items.</summary>
/// <param name="Baseline">The first model (usually the original).</param>
/// <param name="Other">The second model (usually the steered one).</param>
/// <param name="Counts">Items by which of the two got them right (only items both finished).</param>
public sealed record EvalComparison(EvalResult Baseline, EvalResult Other, PairedCounts Counts)
{
    /// <summary>Pairs up the items both runs finished (by position, which is the same item order).</summary>
    /// <exception cref="ArgumentException">The runs were made on different items.</exception>
    public static EvalComparison Of(EvalResult baseline, EvalResult other)
    {
        var n = Math.Min(baseline.Items.Count, other.Items.Count);
        for (var i = 0; i < n; i++)
            if (baseline.Items[i].Id != other.Items[i].Id)
                throw new ArgumentException($"item {i} differs between the runs: {baseline.Items[i].Id} and {other.Items[i].Id}");
        var counts = PairedCounts.Count(baseline.Items.Take(n).Select(x => x.Correct).ToList(), other.Items.Take(n).Select(x => x.Correct).ToList());
        return new EvalComparison(baseline, other, counts);
    }
}

/// <summary>
/// The evaluation report, as <c>onnxsteer eval</c> prints and writes it and the sweep reuses it: a text summary, JSON
/// (schema <c>onnxsteer.eval/1</c>), and one JSON line per item.
/// </summary>
public static class EvalReport
{
    /// <summary>The JSON schema name.</summary>
    public const string Schema = "onnxsteer.eval/1";

    private static string F(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);

    /// <summary>Human-readable summary of one run.</summary>
    public static string Text(string label, EvalResult r)
    {
        var ci = r.Interval;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{label}: {r.Task.Name()} {r.Mode.ToString().ToLowerInvariant()} acc {F(r.Accuracy)} ({r.Correct}/{r.Items.Count}) 95% CI [{F(ci.Low)}, {F(ci.High)}]");
        if (r.AccuracyNorm is { } norm)
        {
            var nci = Statistics.Wilson(r.CorrectNorm!.Value, r.Items.Count);
            sb.Append(CultureInfo.InvariantCulture, $"; acc_norm {F(norm)} ({r.CorrectNorm}/{r.Items.Count}) 95% CI [{F(nci.Low)}, {F(nci.High)}]");
        }
        if (r.Truncated > 0) sb.Append(CultureInfo.InvariantCulture, $"; {r.Truncated} prompts truncated from the left");
        if (r.Interrupted) sb.Append("; interrupted");
        return sb.AppendLine().ToString();
    }

    /// <summary>Human-readable paired comparison.</summary>
    public static string Text(EvalComparison c)
    {
        var k = c.Counts;
        return string.Create(CultureInfo.InvariantCulture,
            $"paired on {k.Total} items: difference {(k.Difference >= 0 ? "+" : "")}{F(k.Difference)} (against - model); " +
            $"both right {k.BothRight}, only model {k.OnlyFirst}, only against {k.OnlySecond}, both wrong {k.BothWrong}; " +
            $"McNemar exact p = {k.McNemarP.ToString("G4", CultureInfo.InvariantCulture)}\n");
    }

    /// <summary>JSON summary of a run.</summary>
    internal static JsonObject Json(EvalResult r)
    {
        var o = new JsonObject
        {
            ["task"] = r.Task.Name(),
            ["mode"] = r.Mode.ToString().ToLowerInvariant(),
            ["items"] = r.Items.Count,
            ["correct"] = r.Correct,
            ["accuracy"] = r.Accuracy,
            ["ci95"] = new JsonArray(r.Interval.Low, r.Interval.High),
            ["truncated"] = r.Truncated,
            ["interrupted"] = r.Interrupted,
        };
        if (r.CorrectNorm is { } cn)
        {
            var nci = Statistics.Wilson(cn, r.Items.Count);
            o["correct_norm"] = cn;
            o["accuracy_norm"] = r.AccuracyNorm;
            o["ci95_norm"] = new JsonArray(nci.Low, nci.High);
        }
        return o;
    }

    /// <summary>The fluency guard beside accuracy: "fluency model: mean log-likelihood -2.1234 nats/token (perplexity 8.36, 412 tokens)".</summary>
    public static string FluencyText(string label, FluencyResult f, FluencyResult? baseline = null)
    {
        var delta = baseline is null ? "" : string.Create(CultureInfo.InvariantCulture, $"; {(f.MeanLogLikelihood >= baseline.MeanLogLikelihood ? "+" : "")}{F(f.MeanLogLikelihood - baseline.MeanLogLikelihood)} vs model");
        return string.Create(CultureInfo.InvariantCulture,
            $"fluency {label}: mean log-likelihood {F(f.MeanLogLikelihood)} nats/token (perplexity {f.Perplexity:0.00}, {f.Tokens} tokens of {f.Texts} texts){delta}\n");
    }

    /// <summary>JSON of a fluency measurement.</summary>
    internal static JsonObject Json(FluencyResult f) => new()
    {
        ["mean_loglik"] = f.MeanLogLikelihood,
        ["perplexity"] = f.Perplexity,
        ["tokens"] = f.Tokens,
        ["texts"] = f.Texts,
        ["truncated"] = f.Truncated,
    };

    /// <summary>
    /// The whole JSON document: the model's run and, with a comparison, the other run and the paired counts; with
    /// fluency measurements, <c>model.fluency</c> / <c>against.fluency</c> and <c>fluency_texts</c>.
    /// </summary>
    public static string Json(EvalResult model, EvalComparison? comparison, FluencyResult? modelFluency = null,
        FluencyResult? againstFluency = null, string? fluencyTexts = null)
    {
        var doc = new JsonObject { ["schema"] = Schema, ["model"] = Json(model) };
        if (modelFluency is not null) ((JsonObject)doc["model"]!)["fluency"] = Json(modelFluency);
        if (fluencyTexts is not null) doc["fluency_texts"] = fluencyTexts;
        if (comparison is { } c)
        {
            var k = c.Counts;
            doc["against"] = Json(c.Other);
            if (againstFluency is not null) ((JsonObject)doc["against"]!)["fluency"] = Json(againstFluency);
            doc["paired"] = new JsonObject
            {
                ["items"] = k.Total,
                ["difference"] = k.Difference,
                ["both_right"] = k.BothRight,
                ["only_model"] = k.OnlyFirst,
                ["only_against"] = k.OnlySecond,
                ["both_wrong"] = k.BothWrong,
                ["mcnemar_exact_p"] = k.McNemarP,
            };
        }
        return doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = Relaxed }) + "\n";
    }

    /// <summary>One JSON line for an item; with <paramref name="other"/>, that run's prediction and correctness beside it.</summary>
    internal static string ItemLine(ItemResult item, ItemResult? other = null)
    {
        var o = new JsonObject
        {
            ["id"] = item.Id,
            ["prediction"] = item.Prediction,
            ["gold"] = item.Gold,
            ["correct"] = item.Correct,
        };
        if (item.CorrectNorm is { } n) o["correct_norm"] = n;
        if (item.LogLikelihoods is { } ll) o["loglik"] = new JsonArray(ll.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
        if (item.Truncated) o["truncated"] = true;
        if (other is not null)
        {
            o["against_prediction"] = other.Prediction;
            o["against_correct"] = other.Correct;
        }
        return o.ToJsonString(new JsonSerializerOptions { Encoder = Relaxed });
    }

    // Model text is shown as written ("a \"quote\"", not "\u0022"); the output is a file, never embedded in HTML.
    private static readonly System.Text.Encodings.Web.JavaScriptEncoder Relaxed = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    /// <summary>Writes one line per item of <paramref name="model"/> (paired with <paramref name="other"/>'s when given), atomically.</summary>
    /// <exception cref="IOException">The file cannot be written (nothing half-written is left).</exception>
    public static void WriteItems(string path, EvalResult model, EvalResult? other = null)
    {
        var sb = new StringBuilder();
        var n = other is null ? model.Items.Count : Math.Min(model.Items.Count, other.Items.Count);
        for (var i = 0; i < n; i++) sb.Append(ItemLine(model.Items[i], other?.Items[i])).Append('\n');
        AtomicFile.WriteAllText(path, sb.ToString());
    }
}
