using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxSteer.Evaluation;
using OnnxSteer.IO;
using OnnxSteer.Pairs;
using OnnxSteer.Sites;

namespace OnnxSteer.Sweeping;

/// <summary>
/// Writes a sweep's results: sweep.json (schema <c>onnxsteer.sweep/1</c>), a text table, heatmap.svg and heatmap.png, chosen-profile.json
/// and test-items.jsonl, every file through <see cref="AtomicFile"/> (temporary name, then rename).
/// </summary>
public static class SweepReport
{
    /// <summary>The JSON schema name.</summary>
    public const string Schema = "onnxsteer.sweep/1";

    /// <summary>File names in the output folder.</summary>
    public const string JsonFile = "sweep.json", HeatmapFile = "heatmap.svg", HeatmapPngFile = "heatmap.png", ChosenProfileFile = "chosen-profile.json", TestItemsFile = "test-items.jsonl";

    private static string F(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);
    private static string G(double v) => v.ToString("G", CultureInfo.InvariantCulture);

    /// <summary>
    /// Writes every output of <paramref name="result"/> into <paramref name="outDir"/> (created if missing); returns the
    /// paths written. chosen-profile.json and test-items.jsonl left by an earlier sweep are removed when this result has
    /// no choice or no test (interrupted, or nothing passed the fluency guard). <paramref name="parameter"/> writes the
    /// parameters the notes mention (a front end's option names); null = their names.
    /// </summary>
    /// <exception cref="IOException">A file cannot be written (none is left half-written).</exception>
    public static IReadOnlyList<string> Write(string outDir, SweepResult result, Func<string, string>? parameter = null)
    {
        Directory.CreateDirectory(outDir);
        var written = new List<string>();
        void Text(string name, string text)
        {
            var path = Path.Combine(outDir, name);
            AtomicFile.WriteAllText(path, text);
            written.Add(path);
        }
        Text(JsonFile, Json(result, parameter));
        Text(HeatmapFile, Heatmap.Svg(result));
        var png = Path.Combine(outDir, HeatmapPngFile);
        AtomicFile.WriteAllBytes(png, HeatmapPng.Render(result));
        written.Add(png);
        var chosenPath = Path.Combine(outDir, ChosenProfileFile);
        var itemsPath = Path.Combine(outDir, TestItemsFile);
        if (result.ChosenProfile is { } profile)
        {
            profile.Save(chosenPath);
            written.Add(chosenPath);
        }
        // An earlier sweep's choice and test items must not sit beside this sweep's sweep.json as if they were its own.
        else File.Delete(chosenPath);
        if (result.Test is { } test)
        {
            // Vanilla first, steered as "against": the same layout as `eval MODEL --against STEERED --out`.
            EvalReport.WriteItems(itemsPath, test.Vanilla, test.Steered);
            written.Add(itemsPath);
        }
        else File.Delete(itemsPath);
        return written;
    }

    /// <summary>The sweep.json document; <paramref name="parameter"/> as in <see cref="Write"/>.</summary>
    public static string Json(SweepResult r, Func<string, string>? parameter = null)
    {
        var q = r.Request;
        var doc = Head(Schema, r);
        foreach (var (key, value) in new JsonObject
        {
            ["grid"] = new JsonObject
            {
                ["k"] = new JsonArray(q.Ks.Order().Select(k => (JsonNode?)k).ToArray()),
                ["alpha"] = new JsonArray(q.Alphas.Order().Select(a => (JsonNode?)a).ToArray()),
            },
            ["tie_rule"] = SettingChooser.TieRule,
            ["max_fluency_drop"] = q.MaxFluencyDrop,
            ["slices"] = Slices(r, parameter),
            ["fluency_texts"] = new JsonObject { ["source"] = q.FluencySource, ["texts"] = q.FluencyTexts.Count },
            ["vanilla"] = new JsonObject
            {
                ["validation"] = r.VanillaValidation is { } vv ? Accuracy(vv) : null,
                ["fluency"] = r.VanillaFluency is { } vf ? Fluency(vf, null) : null,
            },
            ["settings"] = new JsonArray(r.Settings.Select(s => (JsonNode?)new JsonObject
            {
                ["k"] = s.Setting.K,
                ["alpha"] = s.Setting.Alpha,
                ["units"] = s.Units,
                ["eligible"] = SettingChooser.Eligible(s, r.VanillaFluency, q.MaxFluencyDrop),
                ["validation"] = Accuracy(s.Validation),
                ["fluency"] = Fluency(s.Fluency, r.VanillaFluency),
            }).ToArray()),
            ["interrupted"] = r.Interrupted,
            ["best"] = r.Best is { } b ? new JsonObject { ["k"] = b.Setting.K, ["alpha"] = b.Setting.Alpha, ["units"] = b.Units, ["beats_vanilla"] = SettingChooser.BeatsVanilla(b, r.VanillaValidation) } : null,
            ["chosen"] = r.Chosen is { } c ? new JsonObject { ["k"] = c.Setting.K, ["alpha"] = c.Setting.Alpha, ["units"] = c.Units } : null,
        }.ToList()) doc[key] = value?.DeepClone();
        if (r.Test is { } t)
        {
            var k = t.Comparison.Counts;
            doc["test"] = new JsonObject
            {
                ["steered"] = Accuracy(t.Steered),
                ["vanilla"] = Accuracy(t.Vanilla),
                ["steered_fluency"] = Fluency(t.SteeredFluency, r.VanillaFluency),
                ["paired"] = new JsonObject
                {
                    ["items"] = k.Total,
                    ["difference"] = k.Difference,
                    ["both_right"] = k.BothRight,
                    ["only_vanilla"] = k.OnlyFirst,
                    ["only_steered"] = k.OnlySecond,
                    ["both_wrong"] = k.BothWrong,
                    ["mcnemar_exact_p"] = k.McNemarP,
                },
            };
        }
        else doc["test"] = null;
        return doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }

    /// <summary>The fields every sweep document opens with: schema, model, profile, task, data, mode, sites.</summary>
    internal static JsonObject Head(string schema, SweepFrame r) => new()
    {
        ["schema"] = schema,
        ["model"] = r.ModelFile,
        ["profile"] = r.Request.ProfilePath,
        ["task"] = r.Request.Task.Name(),
        ["data"] = r.Request.DataPath,
        ["mode"] = r.Request.Mode.ToString().ToLowerInvariant(),
        ["sites"] = new JsonArray(r.Sites.Select(s => (JsonNode?)s.ToName()).ToArray()),
    };

    /// <summary>The slices of <paramref name="r"/>, with the checks written by <paramref name="parameter"/>.</summary>
    internal static JsonObject Slices(SweepFrame r, Func<string, string>? parameter) => new()
    {
        ["validation"] = Slice(r.Slices.Validation, r.ValidationIds),
        ["test"] = Slice(r.Slices.Test, r.TestIds),
        ["checks"] = new JsonArray(r.Slices.Notes.Select(n => (JsonNode?)n.Render(parameter)).ToArray()),
    };

    internal static JsonObject Slice(RecordRange range, IReadOnlyList<string> ids) => new()
    {
        ["offset"] = range.Offset,
        ["items"] = ids.Count,
        ["first_id"] = ids.Count > 0 ? ids[0] : null,
        ["last_id"] = ids.Count > 0 ? ids[^1] : null,
    };

    internal static JsonObject Accuracy(EvalResult e)
    {
        var o = EvalReport.Json(e);
        o.Remove("task");
        o.Remove("mode");
        return o;
    }

    internal static JsonObject Fluency(FluencyResult f, FluencyResult? vanilla)
    {
        var o = new JsonObject
        {
            ["mean_loglik"] = f.MeanLogLikelihood,
            ["perplexity"] = f.Perplexity,
            ["tokens"] = f.Tokens,
        };
        if (vanilla is not null) o["delta_vs_vanilla"] = f.MeanLogLikelihood - vanilla.MeanLogLikelihood;
        return o;
    }

    /// <summary>
    /// The text summary: validation accuracy over k (rows) × alpha (columns), the chosen cell starred, each setting's
    /// fluency change, and the test-slice comparison.
    /// </summary>
    public static string Text(SweepResult r)
    {
        var sb = new StringBuilder();
        var ks = r.Request.Ks.Order().ToList();
        var alphas = r.Request.Alphas.Order().ToList();
        var by = r.Settings.ToDictionary(s => s.Setting);
        sb.AppendLine(CultureInfo.InvariantCulture, $"validation accuracy ({r.ValidationIds.Count} items, {r.Request.Task.Name()} {r.Request.Mode.ToString().ToLowerInvariant()}; * = chosen{(r.Request.MaxFluencyDrop is null ? "" : ", ! = fails the fluency guard")}):");
        Grid(sb, ks, alphas, s => by.TryGetValue(s, out var x)
            ? F(x.Validation.Accuracy) + (r.Chosen?.Setting == s ? "*" : SettingChooser.Eligible(x, r.VanillaFluency, r.Request.MaxFluencyDrop) ? " " : "!")
            : "   -   ");
        if (r.VanillaFluency is { } vf)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"fluency change (mean log-likelihood per token minus vanilla's {F(vf.MeanLogLikelihood)}, {vf.Tokens} tokens):");
            Grid(sb, ks, alphas, s => by.TryGetValue(s, out var x) ? Signed(x.Fluency.MeanLogLikelihood - vf.MeanLogLikelihood) + " " : "   -   ");
        }
        if (r.VanillaValidation is { } vv) sb.Append(EvalReport.Text("vanilla, validation", vv));
        var guard = r.Request.MaxFluencyDrop is { } d ? string.Create(CultureInfo.InvariantCulture, $"; only settings whose fluency is at most {d:G} below vanilla's") : "";
        if (r.Chosen is { } c)
            sb.AppendLine(CultureInfo.InvariantCulture, $"chosen on validation: {c.Setting} ({c.Units} units), acc {F(c.Validation.Accuracy)}; rule: {SettingChooser.TieRule}{guard}");
        else if (!r.Interrupted && r.Settings.Count > 0) sb.AppendLine(NothingChosen(r));
        if (r.Test is { } t)
        {
            sb.Append(EvalReport.Text("vanilla, test", t.Vanilla));
            sb.Append(EvalReport.Text("steered, test", t.Steered));
            sb.Append(EvalReport.Text(t.Comparison).Replace("(against - model)", "(steered - vanilla)").Replace("only model", "only vanilla").Replace("only against", "only steered"));
        }
        if (r.Interrupted) sb.AppendLine(CultureInfo.InvariantCulture, $"interrupted: {r.Settings.Count} of {ks.Count * alphas.Count} settings finished{(r.Chosen is null ? "; nothing chosen" : "")}");
        return sb.ToString();
    }

    /// <summary>Why a finished sweep chose nothing: no setting passed the fluency guard, or none beat the vanilla model on validation.</summary>
    internal static string NothingChosen(SweepResult r) => r.Best is { } b && r.VanillaValidation is { } v
        ? string.Create(CultureInfo.InvariantCulture, $"nothing chosen: no setting gets more validation items right than the vanilla model (best {b.Setting}: {b.Validation.Correct}/{b.Validation.Items.Count}; vanilla {v.Correct}/{v.Items.Count}); steering does not help here, nothing was tested")
        : string.Create(CultureInfo.InvariantCulture, $"nothing chosen: no setting keeps fluency within {r.Request.MaxFluencyDrop:G} nats/token of vanilla's; nothing was tested");

    private static string Signed(double v) => (v >= 0 ? "+" : "") + v.ToString("0.0000", CultureInfo.InvariantCulture);

    private static void Grid(StringBuilder sb, IReadOnlyList<int> ks, IReadOnlyList<double> alphas, Func<SweepSetting, string> cell)
    {
        const int width = 9;
        sb.Append("  k \\ alpha".PadRight(12));
        foreach (var a in alphas) sb.Append(G(a).PadLeft(width));
        sb.AppendLine();
        foreach (var k in ks)
        {
            sb.Append(("  " + k.ToString(CultureInfo.InvariantCulture)).PadRight(12));
            foreach (var a in alphas) sb.Append(cell(new SweepSetting(k, a)).PadLeft(width));
            sb.AppendLine();
        }
    }
}
