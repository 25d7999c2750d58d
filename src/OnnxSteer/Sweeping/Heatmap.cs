using System.Globalization;
using System.Security;
using System.Text;
using OnnxSteer.Pairs;

namespace OnnxSteer.Sweeping;

/// <summary>
/// A hand-written SVG heat map of a sweep over k (rows) × alpha (columns), in two panels side by side: validation
/// accuracy (one <c>rect class="cell"</c> per setting, with <c>data-k</c>, <c>data-alpha</c>, <c>data-accuracy</c>) and
/// fluency against the vanilla model (<c>rect class="fluency"</c> with <c>data-fluency-delta</c>, nats per token;
/// white at no change, red as it drops), each value printed in its cell, the chosen cell outlined in red
/// (<c>class="cell chosen"</c>). Settings not reached (interrupted) are grey. <see cref="HeatmapPng"/> draws the same.
/// </summary>
internal static class Heatmap
{
    /// <summary>The outline colour of the chosen setting.</summary>
    public const string ChosenColour = "#e4002b";

    private const int CellWidth = 76, CellHeight = 40, Left = 96, Top = 78, LegendWidth = 18, LegendGap = 28, PanelGap = 110;

    // Viridis at five stops: perceptually even and readable in greyscale and by most colour-blind readers.
    private static readonly (double R, double G, double B)[] Stops =
        [(0x44, 0x01, 0x54), (0x3b, 0x52, 0x8b), (0x21, 0x91, 0x8c), (0x5e, 0xc9, 0x62), (0xfd, 0xe7, 0x25)];

    /// <summary>The SVG document for <paramref name="r"/>.</summary>
    public static string Svg(SweepResult r)
    {
        var ks = r.Request.Ks.Order().ToList();
        var alphas = r.Request.Alphas.Order().ToList();
        var by = r.Settings.ToDictionary(s => s.Setting);
        var (low, high) = AccuracyRange(r);
        var gridWidth = alphas.Count * CellWidth;
        var gridHeight = ks.Count * CellHeight;
        var fluencyLeft = Left + gridWidth + PanelGap;
        var title = $"Validation accuracy and fluency, {r.Request.Task.Name()} ({r.ValidationIds.Count} items, {r.Request.Mode.ToString().ToLowerInvariant()})";
        var notes = Notes(r);
        // Wide enough for the panels and the longest line (about 8.5 px a character of 15 px bold, 6.6 px of 12 px text).
        var textWidth = 32 + (int)Math.Max(8.5 * title.Length, 6.6 * notes.Max(n => n.Length));
        var width = Math.Max(fluencyLeft + gridWidth + 24, textWidth);
        var height = Top + gridHeight + 30 + 18 * notes.Count;

        var sb = new StringBuilder();
        void Line(FormattableString s) => sb.AppendLine(s.ToString(CultureInfo.InvariantCulture));
        Line($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"13\">");
        Line($"  <rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>");
        Line($"  <text x=\"16\" y=\"24\" font-size=\"15\" font-weight=\"bold\">{Esc(title)}</text>");
        foreach (var (x0, heading) in new[] { (Left, "accuracy"), (fluencyLeft, "fluency vs vanilla (nats/token)") })
        {
            Line($"  <text x=\"{x0 + gridWidth / 2}\" y=\"{Top - 48}\" text-anchor=\"middle\" font-weight=\"bold\">{Esc(heading)}</text>");
            Line($"  <text x=\"{x0 + gridWidth / 2}\" y=\"{Top - 28}\" text-anchor=\"middle\">alpha</text>");
            for (var j = 0; j < alphas.Count; j++)
                Line($"  <text x=\"{x0 + j * CellWidth + CellWidth / 2}\" y=\"{Top - 8}\" text-anchor=\"middle\">{Esc(G(alphas[j]))}</text>");
            Line($"  <text x=\"{x0 - 10}\" y=\"{Top - 8}\" text-anchor=\"end\" font-weight=\"bold\">k</text>");
            for (var i = 0; i < ks.Count; i++)
                Line($"  <text x=\"{x0 - 10}\" y=\"{Top + i * CellHeight + CellHeight / 2 + 5}\" text-anchor=\"end\">{ks[i]}</text>");
        }

        var chosenRects = new List<string>();
        for (var i = 0; i < ks.Count; i++)
        for (var j = 0; j < alphas.Count; j++)
        {
            var setting = new SweepSetting(ks[i], alphas[j]);
            int x = Left + j * CellWidth, fx = fluencyLeft + j * CellWidth, y = Top + i * CellHeight;
            var attrs = $"y=\"{y}\" width=\"{CellWidth}\" height=\"{CellHeight}\" data-k=\"{ks[i]}\" data-alpha=\"{G(alphas[j])}\"";
            if (!by.TryGetValue(setting, out var s))
            {
                foreach (var (cx, cls) in new[] { (x, "cell missing"), (fx, "fluency missing") })
                {
                    Line($"  <rect class=\"{cls}\" x=\"{cx}\" {attrs} fill=\"#dddddd\" stroke=\"#ffffff\"/>");
                    Line($"  <text x=\"{cx + CellWidth / 2}\" y=\"{y + CellHeight / 2 + 5}\" text-anchor=\"middle\" fill=\"#666666\">not run</text>");
                }
                continue;
            }
            var t = high > low ? (s.Validation.Accuracy - low) / (high - low) : 0.5;
            var chosen = r.Chosen?.Setting == setting;
            var eligible = SettingChooser.Eligible(s, r.VanillaFluency, r.Request.MaxFluencyDrop);
            var bold = chosen ? " font-weight=\"bold\"" : "";
            Line($"  <rect class=\"cell{(chosen ? " chosen" : "")}{(eligible ? "" : " ineligible")}\" x=\"{x}\" {attrs} data-accuracy=\"{F(s.Validation.Accuracy)}\" fill=\"{AccuracyColour(r, s)}\" stroke=\"#ffffff\"><title>{Esc($"{setting}: accuracy {F(s.Validation.Accuracy)} ({s.Validation.Correct}/{s.Validation.Items.Count}), {s.Units} units")}</title></rect>");
            Line($"  <text x=\"{x + CellWidth / 2}\" y=\"{y + CellHeight / 2 + 5}\" text-anchor=\"middle\" fill=\"{(t < 0.6 ? "#ffffff" : "#000000")}\"{bold}>{F(s.Validation.Accuracy)}{(eligible ? "" : "†")}</text>");
            if (FluencyDelta(r, s) is { } d)
            {
                var fill = FluencyColour(r, d);
                Line($"  <rect class=\"fluency{(chosen ? " chosen" : "")}\" x=\"{fx}\" {attrs} data-fluency-delta=\"{d.ToString("R", CultureInfo.InvariantCulture)}\" fill=\"{fill}\" stroke=\"#ffffff\"><title>{Esc($"{setting}: mean log-likelihood {s.Fluency.MeanLogLikelihood:0.0000} nats/token, {d:+0.0000;-0.0000;0} vs vanilla")}</title></rect>");
                Line($"  <text x=\"{fx + CellWidth / 2}\" y=\"{y + CellHeight / 2 + 5}\" text-anchor=\"middle\" fill=\"{(Dark(fill) ? "#ffffff" : "#000000")}\"{bold}>{d.ToString("+0.00;-0.00;0.00", CultureInfo.InvariantCulture)}</text>");
            }
            if (chosen)
                foreach (var cx in new[] { x, fx })
                    chosenRects.Add(string.Create(CultureInfo.InvariantCulture, $"  <rect class=\"chosen-marker\" x=\"{cx + 2}\" y=\"{y + 2}\" width=\"{CellWidth - 4}\" height=\"{CellHeight - 4}\" fill=\"none\" stroke=\"{ChosenColour}\" stroke-width=\"4\"/>"));
        }
        foreach (var rect in chosenRects) sb.AppendLine(rect);

        // Legend: a vertical gradient from the lowest (bottom) to the highest (top) accuracy in the grid.
        var lx = Left + gridWidth + LegendGap;
        sb.AppendLine("  <defs><linearGradient id=\"scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">");
        for (var i = 0; i < Stops.Length; i++)
            Line($"    <stop offset=\"{(double)i / (Stops.Length - 1):0.##}\" stop-color=\"{Colour((double)i / (Stops.Length - 1))}\"/>");
        sb.AppendLine("  </linearGradient></defs>");
        Line($"  <rect class=\"legend\" x=\"{lx}\" y=\"{Top}\" width=\"{LegendWidth}\" height=\"{gridHeight}\" fill=\"url(#scale)\" stroke=\"#888888\"/>");
        Line($"  <text x=\"{lx + LegendWidth + 6}\" y=\"{Top + 10}\">{F(high)}</text>");
        Line($"  <text x=\"{lx + LegendWidth + 6}\" y=\"{Top + gridHeight}\">{F(low)}</text>");
        Line($"  <text x=\"{lx + LegendWidth / 2}\" y=\"{Top - 8}\" text-anchor=\"middle\">acc</text>");
        for (var i = 0; i < notes.Count; i++)
            Line($"  <text x=\"16\" y=\"{Top + gridHeight + 28 + 18 * i}\" font-size=\"12\">{Esc(notes[i])}</text>");
        sb.AppendLine("</svg>");
        return sb.ToString();
    }

    /// <summary>The lines under the panels: the choice, the vanilla model, the fluency guard, what k and alpha mean.</summary>
    public static List<string> Notes(SweepResult r)
    {
        var notes = new List<string>();
        if (r.Chosen is { } c) notes.Add($"Red outline: chosen on validation ({c.Setting}); ties go to the smaller k, then the smaller |alpha|.");
        else if (r.Best is { } b && !SettingChooser.BeatsVanilla(b, r.VanillaValidation)) notes.Add($"Nothing chosen: no setting beats vanilla on validation.");
        if (r.VanillaValidation is { } v)
            notes.Add($"Vanilla model on the same items: accuracy {F(v.Accuracy)} ({v.Correct}/{v.Items.Count})" +
                      (r.VanillaFluency is { } vf ? string.Create(CultureInfo.InvariantCulture, $", fluency {vf.MeanLogLikelihood:0.000} nats/token.") : "."));
        if (r.Request.MaxFluencyDrop is { } d)
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"† (png: *): fluency more than {d:G} nats/token below vanilla's; not eligible to be chosen."));
        notes.Add("k: units steered per site kind; alpha: steering strength (negative: the other way).");
        return notes;
    }

    /// <summary>The fill of an accuracy cell: viridis over the grid's range.</summary>
    public static string AccuracyColour(SweepResult r, SettingResult s)
    {
        var (low, high) = AccuracyRange(r);
        return Colour(high > low ? (s.Validation.Accuracy - low) / (high - low) : 0.5);
    }

    /// <summary>Mean log-likelihood per token minus the vanilla model's (negative: less fluent); null without a vanilla figure.</summary>
    public static double? FluencyDelta(SweepResult r, SettingResult s) =>
        r.VanillaFluency is { } v && s.Fluency is { } f ? f.MeanLogLikelihood - v.MeanLogLikelihood : null;

    /// <summary>
    /// The fill of a fluency cell: white at no change, deepening to red at the largest drop in the grid (and to blue for
    /// a gain), so the cost of strong settings shows at a glance.
    /// </summary>
    public static string FluencyColour(SweepResult r, double delta)
    {
        var worst = r.Settings.Select(s => FluencyDelta(r, s) ?? 0).Select(Math.Abs).DefaultIfEmpty(0).Max();
        var t = worst > 0 ? Math.Clamp(Math.Abs(delta) / worst, 0, 1) : 0;
        var (tr, tg, tb) = delta < 0 ? (0xb2, 0x18, 0x2b) : (0x21, 0x66, 0xac);
        int C(int to) => (int)Math.Round(0xff + (to - 0xff) * t);
        return $"#{C(tr):x2}{C(tg):x2}{C(tb):x2}";
    }

    private static bool Dark(string hex)
    {
        int R(int i) => Convert.ToInt32(hex.Substring(i, 2), 16);
        return 0.299 * R(1) + 0.587 * R(3) + 0.114 * R(5) < 140;
    }

    private static (double Low, double High) AccuracyRange(SweepResult r)
    {
        var values = r.Settings.Select(s => s.Validation.Accuracy).ToList();
        if (values.Count == 0) return (0, 1);
        double low = values.Min(), high = values.Max();
        return low < high ? (low, high) : (Math.Max(0, low - 0.05), Math.Min(1, high + 0.05));
    }

    /// <summary>The colour of <paramref name="t"/> in [0, 1] on the viridis stops, as #rrggbb.</summary>
    private static string Colour(double t)
    {
        t = Math.Clamp(t, 0, 1) * (Stops.Length - 1);
        var i = Math.Min((int)t, Stops.Length - 2);
        var f = t - i;
        var (a, b) = (Stops[i], Stops[i + 1]);
        int C(double x, double y) => (int)Math.Round(x + (y - x) * f);
        return $"#{C(a.R, b.R):x2}{C(a.G, b.G):x2}{C(a.B, b.B):x2}";
    }

    internal static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
    internal static string G(double v) => v.ToString("G", CultureInfo.InvariantCulture);
    private static string Esc(string s) => SecurityElement.Escape(s);
}
