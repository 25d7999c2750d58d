using System.Globalization;
using OnnxSteer.Imaging;
using OnnxSteer.Pairs;

namespace OnnxSteer.Sweeping;

/// <summary>
/// heatmap.png: the picture of <see cref="Heatmap.Svg"/> as a PNG to paste anywhere. Two panels of k (rows) × alpha
/// (columns): validation accuracy (viridis) and fluency against the vanilla model in nats per token (white at no
/// change, red as it drops), each cell labelled with its value; the chosen setting outlined in red in both.
/// </summary>
internal static class HeatmapPng
{
    private const int Scale = 2, CellWidth = 84, CellHeight = 34, Margin = 16, PanelGap = 48;
    private static readonly Rgb White = new(255, 255, 255), Black = new(0, 0, 0), Grey = new(0xdd, 0xdd, 0xdd), Chosen = Rgb.Parse(Heatmap.ChosenColour);

    /// <summary>The PNG bytes for <paramref name="r"/>.</summary>
    public static byte[] Render(SweepResult r)
    {
        var ks = r.Request.Ks.Order().ToList();
        var alphas = r.Request.Alphas.Order().ToList();
        var line = RgbImage.TextHeight(Scale) + 8;
        var kLabel = ks.Max(k => RgbImage.TextWidth(k.ToString(CultureInfo.InvariantCulture), Scale));
        var left = Margin + Math.Max(RgbImage.TextWidth("k", Scale), kLabel) + 12;
        var top = Margin + 3 * line + 8;
        var gridWidth = alphas.Count * CellWidth;
        var gridHeight = ks.Count * CellHeight;
        var title = $"{r.Request.Task.Name()}: {r.ValidationIds.Count} validation items, {r.Request.Mode.ToString().ToLowerInvariant()}";
        var notes = Heatmap.Notes(r);
        var panelsWidth = left + 2 * gridWidth + PanelGap + Margin;
        var width = Math.Max(panelsWidth, Margin * 2 + notes.Append(title).Max(n => RgbImage.TextWidth(n, Scale)));
        var height = top + gridHeight + 12 + notes.Count * line + Margin;
        var image = new RgbImage(width, height, White);

        image.DrawText(Margin, Margin, title, Black, Scale);
        var panels = new[]
        {
            (X: left, Title: "validation accuracy", Cell: (Func<SettingResult, (Rgb, string)>)(s => AccuracyCell(r, s))),
            (X: left + gridWidth + PanelGap, Title: "fluency vs vanilla, nats/token", Cell: s => FluencyCell(r, s)),
        };
        foreach (var panel in panels)
        {
            image.DrawText(panel.X, Margin + line, panel.Title, Black, Scale);
            for (var j = 0; j < alphas.Count; j++)
            {
                var label = Heatmap.G(alphas[j]);
                image.DrawText(panel.X + j * CellWidth + (CellWidth - RgbImage.TextWidth(label, Scale)) / 2, Margin + 2 * line + 4, label, Black, Scale);
            }
            DrawGrid(image, r, ks, alphas, panel.X, top, panel.Cell);
        }
        image.DrawText(Margin, Margin + 2 * line + 4, "k", Black, Scale);
        for (var i = 0; i < ks.Count; i++)
        {
            var label = ks[i].ToString(CultureInfo.InvariantCulture);
            image.DrawText(left - 8 - RgbImage.TextWidth(label, Scale), top + i * CellHeight + (CellHeight - RgbImage.TextHeight(Scale)) / 2, label, Black, Scale);
        }
        for (var n = 0; n < notes.Count; n++) image.DrawText(Margin, top + gridHeight + 12 + n * line, notes[n], Black, Scale);
        return image.ToPng();
    }

    private static void DrawGrid(RgbImage image, SweepResult r, List<int> ks, List<double> alphas, int x0, int y0, Func<SettingResult, (Rgb Fill, string Text)> cell)
    {
        var by = r.Settings.ToDictionary(s => s.Setting);
        for (var i = 0; i < ks.Count; i++)
        for (var j = 0; j < alphas.Count; j++)
        {
            int x = x0 + j * CellWidth, y = y0 + i * CellHeight;
            var setting = new SweepSetting(ks[i], alphas[j]);
            var (fill, text) = by.TryGetValue(setting, out var s) ? cell(s) : (Grey, "n/a");
            image.FillRect(x, y, CellWidth, CellHeight, fill);
            image.StrokeRect(x, y, CellWidth, CellHeight, White);
            var ink = Luminance(fill) < 140 ? White : Black;
            image.DrawText(x + (CellWidth - RgbImage.TextWidth(text, Scale)) / 2, y + (CellHeight - RgbImage.TextHeight(Scale)) / 2, text, ink, Scale);
            if (r.Chosen?.Setting == setting) image.StrokeRect(x + 1, y + 1, CellWidth - 2, CellHeight - 2, Chosen, 4);
        }
    }

    private static (Rgb, string) AccuracyCell(SweepResult r, SettingResult s)
    {
        var eligible = SettingChooser.Eligible(s, r.VanillaFluency, r.Request.MaxFluencyDrop);
        return (Rgb.Parse(Heatmap.AccuracyColour(r, s)), Heatmap.F(s.Validation.Accuracy) + (eligible ? "" : "*"));
    }

    private static (Rgb, string) FluencyCell(SweepResult r, SettingResult s) =>
        Heatmap.FluencyDelta(r, s) is { } d
            ? (Rgb.Parse(Heatmap.FluencyColour(r, d)), d.ToString("+0.00;-0.00;0.00", CultureInfo.InvariantCulture))
            : (Grey, "n/a");

    private static double Luminance(Rgb c) => 0.299 * c.R + 0.587 * c.G + 0.114 * c.B;
}
