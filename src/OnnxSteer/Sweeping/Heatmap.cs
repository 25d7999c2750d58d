using System.Globalization;
using System.Security;
using System.Text;
using OnnxSteer.Pairs;

namespace OnnxSteer.Sweeping;

/// <summary>
/// A hand-written SVG heat map of validation accuracy over k (rows) × alpha (columns): one <c>rect class="cell"</c> per
/// grid setting (with <c>data-k</c>, <c>data-alpha</c>, <c>data-accuracy</c>), the value printed in each cell, a colour
/// legend, and the chosen cell outlined in red (<c>class="cell chosen"</c>). Settings not reached (interrupted) are grey.
/// </summary>
public static class Heatmap
{
    private const int CellWidth = 76, CellHeight = 40, Left = 96, Top = 78, LegendWidth = 18, LegendGap = 28;

    // Viridis at five stops: perceptually even and readable in greyscale and by most colour-blind readers.
    private static readonly (double R, double G, double B)[] Stops =
        [(0x44, 0x01, 0x54), (0x3b, 0x52, 0x8b), (0x21, 0x91, 0x8c), (0x5e, 0xc9, 0x62), (0xfd, 0xe7, 0x25)];

    /// <summary>The SVG document for <paramref name="r"/>.</summary>
    public static string Svg(SweepResult r)
    {
        var ks = r.Request.Ks.Order().ToList();
        var alphas = r.Request.Alphas.Order().ToList();
        var by = r.Settings.ToDictionary(s => s.Setting);
        var values = r.Settings.Select(s => s.Validation.Accuracy).ToList();
        var (low, high) = Range(values);
        var gridWidth = alphas.Count * CellWidth;
        var gridHeight = ks.Count * CellHeight;
        var title = $"Validation accuracy, {r.Request.Task.Name()} ({r.ValidationIds.Count} items, {r.Request.Mode.ToString().ToLowerInvariant()})";
        var notes = new List<string>();
        if (r.Chosen is { } c) notes.Add($"Red outline: chosen on validation ({c.Setting}); ties go to the smaller k, then the smaller alpha.");
        if (r.VanillaValidation is { } v) notes.Add($"Vanilla model on the same items: {F(v.Accuracy)} ({v.Correct}/{v.Items.Count}).");
        var guard = r.Request.MaxFluencyDrop;
        if (guard is { } d) notes.Add(string.Create(CultureInfo.InvariantCulture, $"†: fluency more than {d:G} nats/token below vanilla's; not eligible to be chosen."));
        notes.Add("k: units steered per site kind; alpha: steering strength.");
        // Wide enough for the longest line of text (about 7 px a character at 12-13 px sans-serif), however small the grid.
        var textWidth = 16 + (int)(7.6 * Math.Max(title.Length, notes.Max(n => n.Length)));
        var width = Math.Max(Left + gridWidth + LegendGap + LegendWidth + 70, textWidth);
        var height = Top + gridHeight + 30 + 18 * notes.Count;

        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"13\">");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  <rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  <text x=\"16\" y=\"24\" font-size=\"15\" font-weight=\"bold\">{Esc(title)}</text>");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  <text x=\"{Left + gridWidth / 2}\" y=\"{Top - 30}\" text-anchor=\"middle\" font-weight=\"bold\">alpha</text>");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  <text x=\"{Left - 10}\" y=\"{Top - 8}\" text-anchor=\"end\" font-weight=\"bold\">k</text>");
        for (var j = 0; j < alphas.Count; j++)
            sb.AppendLine(CultureInfo.InvariantCulture, $"  <text x=\"{Left + j * CellWidth + CellWidth / 2}\" y=\"{Top - 8}\" text-anchor=\"middle\">{Esc(G(alphas[j]))}</text>");
        for (var i = 0; i < ks.Count; i++)
            sb.AppendLine(CultureInfo.InvariantCulture, $"  <text x=\"{Left - 10}\" y=\"{Top + i * CellHeight + CellHeight / 2 + 5}\" text-anchor=\"end\">{ks[i]}</text>");

        string? chosenRect = null;
        for (var i = 0; i < ks.Count; i++)
        for (var j = 0; j < alphas.Count; j++)
        {
            var setting = new SweepSetting(ks[i], alphas[j]);
            int x = Left + j * CellWidth, y = Top + i * CellHeight;
            var attrs = $"x=\"{x}\" y=\"{y}\" width=\"{CellWidth}\" height=\"{CellHeight}\" data-k=\"{ks[i]}\" data-alpha=\"{G(alphas[j])}\"";
            if (!by.TryGetValue(setting, out var s))
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"  <rect class=\"cell missing\" {attrs} fill=\"#dddddd\" stroke=\"#ffffff\"/>");
                sb.AppendLine(CultureInfo.InvariantCulture, $"  <text x=\"{x + CellWidth / 2}\" y=\"{y + CellHeight / 2 + 5}\" text-anchor=\"middle\" fill=\"#666666\">not run</text>");
                continue;
            }
            var t = high > low ? (s.Validation.Accuracy - low) / (high - low) : 0.5;
            var chosen = r.Chosen?.Setting == setting;
            var eligible = SettingChooser.Eligible(s, r.VanillaFluency, guard);
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"  <rect class=\"cell{(chosen ? " chosen" : "")}{(eligible ? "" : " ineligible")}\" {attrs} data-accuracy=\"{F(s.Validation.Accuracy)}\" fill=\"{Colour(t)}\" stroke=\"#ffffff\"><title>{Esc($"{setting}: accuracy {F(s.Validation.Accuracy)} ({s.Validation.Correct}/{s.Validation.Items.Count}), {s.Units} units")}</title></rect>");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"  <text x=\"{x + CellWidth / 2}\" y=\"{y + CellHeight / 2 + 5}\" text-anchor=\"middle\" fill=\"{(t < 0.6 ? "#ffffff" : "#000000")}\"{(chosen ? " font-weight=\"bold\"" : "")}>{F(s.Validation.Accuracy)}{(eligible ? "" : "†")}</text>");
            if (chosen) chosenRect = $"  <rect class=\"chosen-marker\" x=\"{x + 2}\" y=\"{y + 2}\" width=\"{CellWidth - 4}\" height=\"{CellHeight - 4}\" fill=\"none\" stroke=\"#e4002b\" stroke-width=\"4\"/>";
        }
        if (chosenRect is not null) sb.AppendLine(chosenRect);

        // Legend: a vertical gradient from the lowest (bottom) to the highest (top) accuracy in the grid.
        var lx = Left + gridWidth + LegendGap;
        sb.AppendLine("  <defs><linearGradient id=\"scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">");
        for (var i = 0; i < Stops.Length; i++)
            sb.AppendLine(CultureInfo.InvariantCulture, $"    <stop offset=\"{(double)i / (Stops.Length - 1):0.##}\" stop-color=\"{Colour((double)i / (Stops.Length - 1))}\"/>");
        sb.AppendLine("  </linearGradient></defs>");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  <rect class=\"legend\" x=\"{lx}\" y=\"{Top}\" width=\"{LegendWidth}\" height=\"{gridHeight}\" fill=\"url(#scale)\" stroke=\"#888888\"/>");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  <text x=\"{lx + LegendWidth + 6}\" y=\"{Top + 10}\">{F(high)}</text>");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  <text x=\"{lx + LegendWidth + 6}\" y=\"{Top + gridHeight}\">{F(low)}</text>");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  <text x=\"{lx + LegendWidth / 2}\" y=\"{Top - 8}\" text-anchor=\"middle\">acc</text>");
        for (var i = 0; i < notes.Count; i++)
            sb.AppendLine(CultureInfo.InvariantCulture, $"  <text x=\"16\" y=\"{Top + gridHeight + 28 + 18 * i}\" font-size=\"12\">{Esc(notes[i])}</text>");
        sb.AppendLine("</svg>");
        return sb.ToString();
    }

    private static (double Low, double High) Range(IReadOnlyList<double> values)
    {
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

    private static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
    private static string G(double v) => v.ToString("G", CultureInfo.InvariantCulture);
    private static string Esc(string s) => SecurityElement.Escape(s);
}
