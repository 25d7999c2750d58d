using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxSteer.Evaluation;
using OnnxSteer.IO;
using OnnxSteer.Pairs;
using OnnxSteer.Profiles;
using OnnxSteer.Sites;

namespace OnnxSteer.Sweeping;

/// <summary>
/// Writes a sweep over methods: methods.json (schema <c>onnxsteer.sweep-methods/1</c>), pareto.png (each method's
/// settings and front, validation accuracy against fluency cost) and best-METHOD.json (each method's choice, loadable by
/// <c>patch</c>), every file through <see cref="AtomicFile"/>; and the text summary.
/// </summary>
public static class MethodSweepReport
{
    /// <summary>The JSON schema name.</summary>
    public const string Schema = "onnxsteer.sweep-methods/1";

    /// <summary>File names in the output folder.</summary>
    public const string JsonFile = "methods.json", ParetoPngFile = "pareto.png";

    /// <summary>The file of <paramref name="method"/>'s best setting: best-austeer.json.</summary>
    public static string BestProfileFile(SteeringMethod method) => $"best-{method.ToName()}.json";

    private static string F(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);
    private static string F3(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
    // Rounded first, so that a tiny negative prints as 0.000, not -0.000.
    private static string Signed(double v) => Math.Round(v, 3).ToString("+0.000;-0.000;0.000", CultureInfo.InvariantCulture);

    /// <summary>
    /// Writes every output into <paramref name="outDir"/> (created if missing) and returns the paths written; a
    /// best-METHOD.json of an earlier run is removed when this run has no best for that method, so the folder never
    /// mixes two runs. <paramref name="parameter"/> writes the parameters the notes mention; null = their names.
    /// </summary>
    /// <exception cref="IOException">A file cannot be written (none is left half-written).</exception>
    public static IReadOnlyList<string> Write(string outDir, MethodSweepResult result, Func<string, string>? parameter = null)
    {
        Directory.CreateDirectory(outDir);
        var written = new List<string>();
        var json = Path.Combine(outDir, JsonFile);
        AtomicFile.WriteAllText(json, Json(result, parameter));
        written.Add(json);
        var png = Path.Combine(outDir, ParetoPngFile);
        AtomicFile.WriteAllBytes(png, ParetoPng.Render(result));
        written.Add(png);
        foreach (var method in Enum.GetValues<SteeringMethod>())
        {
            var path = Path.Combine(outDir, BestProfileFile(method));
            if (result.Methods.FirstOrDefault(o => o.Method == method)?.BestProfile is { } profile)
            {
                profile.Save(path);
                written.Add(path);
            }
            else File.Delete(path);
        }
        return written;
    }

    /// <summary>The methods.json document.</summary>
    public static string Json(MethodSweepResult r, Func<string, string>? parameter = null)
    {
        var q = r.Request;
        var vf = r.VanillaFluency;
        var doc = SweepReport.Head(Schema, r);
        foreach (var (key, value) in new JsonObject
        {
            ["methods"] = new JsonArray((q.Methods ?? []).Select(m => (JsonNode?)m.ToName()).ToArray()),
            ["tie_rule"] = SettingChooser.TieRule,
            ["method_rule"] = MethodRule,
            ["max_fluency_drop"] = q.MaxFluencyDrop,
            ["slices"] = SweepReport.Slices(r, parameter),
            ["fluency_texts"] = new JsonObject { ["source"] = q.FluencySource, ["texts"] = q.FluencyTexts.Count },
            ["vanilla"] = new JsonObject
            {
                ["validation"] = r.VanillaValidation is { } vv ? SweepReport.Accuracy(vv) : null,
                ["fluency"] = vf is null ? null : SweepReport.Fluency(vf, null),
                ["test"] = r.VanillaTest is { } vt ? SweepReport.Accuracy(vt) : null,
                ["test_mean_margin"] = r.VanillaTestMargins is { Count: > 0 } m ? m.Average() : null,
            },
            ["results"] = new JsonArray(r.Methods.Select(o => (JsonNode?)Outcome(r, o)).ToArray()),
            ["pairs"] = new JsonArray(r.Pairs.Select(p => (JsonNode?)new JsonObject
            {
                ["first"] = p.First.ToName(),
                ["second"] = p.Second.ToName(),
                ["items"] = p.Comparison.Counts.Total,
                ["difference"] = p.Comparison.Counts.Difference,
                ["only_first"] = p.Comparison.Counts.OnlyFirst,
                ["only_second"] = p.Comparison.Counts.OnlySecond,
                ["mcnemar_exact_p"] = p.Comparison.Counts.McNemarP,
                ["margin_difference"] = Interval(p.Margin),
            }).ToArray()),
            ["chosen"] = r.Chosen is { Best: { } cb } c ? SettingJson(c.Method, cb) : null,
            ["verdict"] = Verdict(r),
            ["interrupted"] = r.Interrupted,
        }.ToList()) doc[key] = value?.DeepClone();
        return doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }

    /// <summary>How the method to use is chosen, for reports.</summary>
    internal const string MethodRule = "each method's setting by the tie rule on validation; the method: of those that get more validation items right than the vanilla model, the most right, ties to fewer steered scalars";

    private static JsonObject Outcome(MethodSweepResult r, MethodOutcome o)
    {
        var vf = r.VanillaFluency;
        var grid = new JsonObject { ["alpha"] = new JsonArray(o.Settings.Select(s => s.Setting.Alpha).Distinct().Order().Select(a => (JsonNode?)a).ToArray()) };
        if (o.Method == SteeringMethod.Caa)
            grid["layers"] = new JsonArray(o.Settings.Select(s => s.Setting.Layers).Distinct().Select(l => (JsonNode?)l).ToArray());
        else grid["k"] = new JsonArray(o.Settings.Select(s => s.Setting.K).Distinct().Order().Select(k => (JsonNode?)k).ToArray());
        var obj = new JsonObject
        {
            ["method"] = o.Method.ToName(),
            ["grid"] = grid,
            ["settings"] = new JsonArray(o.Settings.Select(s =>
            {
                var j = SettingJson(o.Method, s);
                j["eligible"] = SettingChooser.Eligible(s, vf, r.Request.MaxFluencyDrop);
                j["on_front"] = o.Front.Contains(s);
                j["validation"] = SweepReport.Accuracy(s.Validation);
                j["fluency"] = SweepReport.Fluency(s.Fluency, vf);
                return (JsonNode?)j;
            }).ToArray()),
            ["front"] = new JsonArray(o.Front.Select(s => (JsonNode?)SettingJson(o.Method, s)).ToArray()),
            ["best"] = o.Best is { } b ? SettingJson(o.Method, b) : null,
            ["beats_vanilla_on_validation"] = o.Best is { } bb ? SettingChooser.BeatsVanilla(bb, r.VanillaValidation) : null,
        };
        if (o.Test is { } t)
        {
            var k = t.VsVanilla.Counts;
            obj["test"] = new JsonObject
            {
                ["steered"] = SweepReport.Accuracy(t.Result),
                ["mean_margin"] = t.Margins is { Count: > 0 } m ? m.Average() : null,
                ["paired"] = new JsonObject
                {
                    ["items"] = k.Total, ["difference"] = k.Difference, ["both_right"] = k.BothRight, ["only_vanilla"] = k.OnlyFirst,
                    ["only_steered"] = k.OnlySecond, ["both_wrong"] = k.BothWrong, ["mcnemar_exact_p"] = k.McNemarP,
                },
                ["margin_vs_vanilla"] = Interval(t.MarginVsVanilla),
            };
        }
        else obj["test"] = null;
        return obj;
    }

    private static JsonObject SettingJson(SteeringMethod method, SettingResult s)
    {
        var j = new JsonObject { ["method"] = method.ToName() };
        if (s.Setting.Layers is { } l) j["layers"] = new JsonArray(LayerSets.Layers(l).Select(x => (JsonNode?)x).ToArray());
        else j["k"] = s.Setting.K;
        j["alpha"] = s.Setting.Alpha;
        j["scalars"] = s.Units;
        j["validation_correct"] = s.Validation.Correct;
        return j;
    }

    private static JsonObject? Interval(MeanDifference? d) => d is { } m
        ? new JsonObject { ["mean"] = m.Mean, ["ci95"] = new JsonArray(Finite(m.Low), Finite(m.High)), ["items"] = m.Items }
        : null;

    private static JsonNode? Finite(double v) => double.IsFinite(v) ? v : null;

    /// <summary>
    /// One sentence on what the test slice says: which method was chosen on validation and whether it (and each method)
    /// is resolved from the vanilla model on the test slice.
    /// </summary>
    public static string Verdict(MethodSweepResult r)
    {
        if (r.Interrupted) return "interrupted: no verdict";
        var sb = new StringBuilder();
        if (r.Chosen is { Best: { } c } chosen)
            sb.Append(CultureInfo.InvariantCulture, $"chosen on validation: {c.Setting} ({c.Units} scalars)");
        else sb.Append("no method's best setting gets more validation items right than the vanilla model: steering is not recommended here");
        var resolved = r.Methods.Where(o => o.Test is { } t && (t.VsVanilla.Counts.McNemarP < 0.05 || t.MarginVsVanilla is { Resolved: true })).ToList();
        sb.Append(resolved.Count == 0
            ? "; on the test slice no method differs from the vanilla model at the 5% level (McNemar, paired margin interval)"
            : "; on the test slice " + string.Join(", ", resolved.Select(o => $"{o.Method.ToName()} ({Describe(o.Test!)})")) + " differ from the vanilla model at the 5% level");
        return sb.ToString();
    }

    private static string Describe(MethodTest t)
    {
        var k = t.VsVanilla.Counts;
        var parts = new List<string> { string.Create(CultureInfo.InvariantCulture, $"acc {Signed(k.Difference)}, p {k.McNemarP:G3}") };
        if (t.MarginVsVanilla is { } m) parts.Add(string.Create(CultureInfo.InvariantCulture, $"margin {Signed(m.Mean)} [{Signed(m.Low)}, {Signed(m.High)}]"));
        return string.Join("; ", parts);
    }

    /// <summary>
    /// The text summary: per method its grid size, best setting and scalars, validation and fluency, test accuracy against
    /// the vanilla model; then the methods against each other on the test slice and the verdict.
    /// </summary>
    public static string Text(MethodSweepResult r)
    {
        var sb = new StringBuilder();
        var vv = r.VanillaValidation;
        var vf = r.VanillaFluency;
        sb.AppendLine(CultureInfo.InvariantCulture, $"methods on {r.Request.Task.Name()} {r.Request.Mode.ToString().ToLowerInvariant()}: {r.ValidationIds.Count} validation items, {r.TestIds.Count} test items; sites {string.Join(",", r.Sites.Select(s => s.ToName()))}");
        if (vv is not null && vf is not null)
        {
            var vanillaTest = r.VanillaTest is { } vt ? string.Create(CultureInfo.InvariantCulture, $", test {vt.Correct}/{vt.Items.Count} ({F3(vt.Accuracy)})") : "";
            sb.AppendLine(CultureInfo.InvariantCulture, $"vanilla: validation {vv.Correct}/{vv.Items.Count}, fluency {F(vf.MeanLogLikelihood)} nats/token{vanillaTest}");
        }
        sb.AppendLine("  method   settings  front  best on validation              scalars  val right  fluency cost  test acc [95% CI]        vs vanilla: diff  McNemar p  margin change [95% CI]");
        foreach (var o in r.Methods)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  {o.Method.ToName(),-8} {o.Settings.Count,8}  {o.Front.Count,5}  ");
            if (o.Best is not { } b) { sb.AppendLine("-"); continue; }
            var mark = SettingChooser.BeatsVanilla(b, vv) ? " " : "=";
            var label = (b.Setting with { Method = null }).ToString();
            sb.Append(CultureInfo.InvariantCulture, $"{label,-30}  {b.Units,7}  {b.Validation.Correct,8}{mark}  {(vf is null ? "-" : Signed(ParetoFront.Cost(b, vf))),12}  ");
            if (o.Test is { } t)
            {
                var k = t.VsVanilla.Counts;
                var ci = t.Result.Interval;
                sb.Append(CultureInfo.InvariantCulture, $"{F3(t.Result.Accuracy)} [{F3(ci.Low)}, {F3(ci.High)}]  {Signed(k.Difference),16}  {k.McNemarP,9:G3}  ");
                sb.Append(t.MarginVsVanilla is { } m ? string.Create(CultureInfo.InvariantCulture, $"{Signed(m.Mean)} [{Signed(m.Low)}, {Signed(m.High)}]") : "-");
            }
            sb.AppendLine();
        }
        if (r.Methods.Any(o => o.Best is { } b && !SettingChooser.BeatsVanilla(b, vv)))
            sb.AppendLine("  = : does not get more validation items right than the vanilla model");
        sb.AppendLine("  fluency cost: vanilla's mean log-likelihood per token on the neutral texts minus the setting's (nats; > 0 is a loss)");
        if (r.Pairs.Count > 0)
        {
            sb.AppendLine("test slice, method against method (second − first):");
            foreach (var p in r.Pairs)
            {
                var k = p.Comparison.Counts;
                sb.Append(CultureInfo.InvariantCulture, $"  {p.Second.ToName()} − {p.First.ToName()}: acc {Signed(k.Difference)} (only {p.First.ToName()} {k.OnlyFirst}, only {p.Second.ToName()} {k.OnlySecond}, McNemar p {k.McNemarP:G3})");
                if (p.Margin is { } m) sb.Append(CultureInfo.InvariantCulture, $", margin {Signed(m.Mean)} [{Signed(m.Low)}, {Signed(m.High)}]");
                sb.AppendLine();
            }
        }
        sb.AppendLine(Verdict(r));
        return sb.ToString();
    }
}
