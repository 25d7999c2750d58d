using System.Globalization;
using OnnxSteer.Imaging;
using OnnxSteer.Pairs;
using OnnxSteer.Profiles;

namespace OnnxSteer.Sweeping;

/// <summary>
/// pareto.png: every setting of a sweep over methods as a point, validation accuracy (up) against fluency cost (right:
/// nats per token lost on the neutral texts), one colour per method; each method's Pareto front joined by a line, its
/// best setting ringed, the vanilla model a black cross at cost 0. The legend names each method's best setting and its
/// steered scalars.
/// </summary>
internal static class ParetoPng
{
    private const int Scale = 2, PlotWidth = 720, PlotHeight = 440, Left = 110, Top = 80, Margin = 16, LegendGap = 40;
    private static readonly Rgb White = new(255, 255, 255), Black = new(0, 0, 0), Grid = new(0xe4, 0xe4, 0xe4);

    /// <summary>Okabe–Ito colours, distinguishable by most colour-blind readers.</summary>
    public static Rgb Colour(SteeringMethod method) => method switch
    {
        SteeringMethod.AuSteer => new Rgb(0xd5, 0x5e, 0x00),
        SteeringMethod.Caa => new Rgb(0x00, 0x72, 0xb2),
        SteeringMethod.ActDiff => new Rgb(0x00, 0x9e, 0x73),
        _ => new Rgb(0x88, 0x88, 0x88),
    };

    /// <summary>The PNG bytes for <paramref name="r"/>.</summary>
    public static byte[] Render(MethodSweepResult r)
    {
        var line = RgbImage.TextHeight(Scale) + 10;
        var legend = r.Methods.Select(o => $"{o.Method.ToName()}: best {(o.Best is { } b ? $"{(b.Setting with { Method = null })}, {b.Units} scalars, {b.Validation.Correct}/{b.Validation.Items.Count}" : "none")}").ToList();
        var notes = new List<string>
        {
            "points: settings; lines: the pareto front of each method; ring: its best on validation; x: vanilla",
            "cost: mean log-likelihood per token of neutral texts, vanilla minus steered (nats)",
        };
        var legendWidth = legend.Max(l => RgbImage.TextWidth(l, Scale)) + 40;
        var width = Math.Max(Left + PlotWidth + LegendGap + legendWidth + Margin, 2 * Margin + notes.Max(n => RgbImage.TextWidth(n, Scale)));
        var height = Top + PlotHeight + 3 * line + notes.Count * line + Margin;
        var image = new RgbImage(width, height, White);
        var title = $"{r.Request.Task.Name()}: validation accuracy ({r.ValidationIds.Count} items) against fluency cost";
        image.DrawText(Margin, Margin, title, Black, Scale);

        var vanilla = r.VanillaFluency;
        var points = r.Methods.SelectMany(o => o.Settings).ToList();
        if (vanilla is null || points.Count == 0)
        {
            image.DrawText(Margin, Top, "no finished settings", Black, Scale);
            return image.ToPng();
        }
        // Cost on a symmetric log scale (linear within ±0.01 nats, logarithmic beyond): the settings worth having sit near
        // 0, the broken ones several nats out, and both must be readable.
        var costs = points.Select(s => ParetoFront.Cost(s, vanilla)).Append(0).ToList();
        var accs = points.Select(s => s.Validation.Accuracy).Append(r.VanillaValidation?.Accuracy ?? 0.5).ToList();
        var (x0, x1) = Range(SymLog(costs.Min()), SymLog(costs.Max()), 0.5);
        var (y0, y1) = Range(accs.Min(), accs.Max(), 0.05);
        y0 = Math.Max(0, y0);
        y1 = Math.Min(1, y1);
        int X(double c) => Left + (int)Math.Round((SymLog(c) - x0) / (x1 - x0) * PlotWidth);
        int Y(double a) => Top + PlotHeight - (int)Math.Round((a - y0) / (y1 - y0) * PlotHeight);

        foreach (var cx in new[] { -10, -1, -0.1, -0.01, 0, 0.01, 0.1, 1, 10, 100 }.Where(c => SymLog(c) >= x0 && SymLog(c) <= x1))
        {
            image.DrawLine(X(cx), Top, X(cx), Top + PlotHeight, Grid);
            var xl = cx.ToString("G", CultureInfo.InvariantCulture);
            image.DrawText(X(cx) - RgbImage.TextWidth(xl, Scale) / 2, Top + PlotHeight + 8, xl, Black, Scale);
        }
        for (var i = 0; i <= 5; i++)
        {
            var ay = y0 + (y1 - y0) * i / 5;
            image.DrawLine(Left, Y(ay), Left + PlotWidth, Y(ay), Grid);
            var yl = ay.ToString("0.00", CultureInfo.InvariantCulture);
            image.DrawText(Left - 10 - RgbImage.TextWidth(yl, Scale), Y(ay) - RgbImage.TextHeight(Scale) / 2, yl, Black, Scale);
        }
        image.StrokeRect(Left, Top, PlotWidth + 1, PlotHeight + 1, Black);
        var xTitle = "fluency cost (nats/token, symmetric log scale)";
        image.DrawText(Left + (PlotWidth - RgbImage.TextWidth(xTitle, Scale)) / 2, Top + PlotHeight + 8 + line, xTitle, Black, Scale);
        image.DrawText(Margin, Top - line + 4, "validation accuracy", Black, Scale);

        foreach (var o in r.Methods)
        {
            var colour = Colour(o.Method);
            foreach (var s in o.Settings) image.FillRect(X(ParetoFront.Cost(s, vanilla)) - 3, Y(s.Validation.Accuracy) - 3, 6, 6, colour);
            for (var i = 0; i < o.Front.Count; i++)
            {
                int fx = X(ParetoFront.Cost(o.Front[i], vanilla)), fy = Y(o.Front[i].Validation.Accuracy);
                image.FillRect(fx - 5, fy - 5, 10, 10, colour);
                if (i > 0) image.DrawLine(X(ParetoFront.Cost(o.Front[i - 1], vanilla)), Y(o.Front[i - 1].Validation.Accuracy), fx, fy, colour, 3);
            }
            if (o.Best is { } b) image.StrokeRect(X(ParetoFront.Cost(b, vanilla)) - 10, Y(b.Validation.Accuracy) - 10, 21, 21, colour, 3);
        }
        if (r.VanillaValidation is { } vv)
        {
            int vx = X(0), vy = Y(vv.Accuracy);
            image.DrawLine(vx - 9, vy - 9, vx + 9, vy + 9, Black, 3);
            image.DrawLine(vx - 9, vy + 9, vx + 9, vy - 9, Black, 3);
        }

        var lx = Left + PlotWidth + LegendGap;
        for (var i = 0; i < r.Methods.Count; i++)
        {
            var y = Top + i * line;
            image.FillRect(lx, y, 24, RgbImage.TextHeight(Scale), Colour(r.Methods[i].Method));
            image.DrawText(lx + 32, y, legend[i], Black, Scale);
        }
        if (r.VanillaValidation is { } v)
            image.DrawText(lx + 32, Top + r.Methods.Count * line, string.Create(CultureInfo.InvariantCulture, $"vanilla: {v.Correct}/{v.Items.Count}"), Black, Scale);
        for (var n = 0; n < notes.Count; n++) image.DrawText(Margin, Top + PlotHeight + 8 + 2 * line + n * line, notes[n], Black, Scale);
        return image.ToPng();
    }

    /// <summary>sign(c)·log10(1 + |c|/0.01): linear near 0, logarithmic beyond 0.01 nats.</summary>
    internal static double SymLog(double c) => Math.Sign(c) * Math.Log10(1 + Math.Abs(c) / 0.01);

    private static (double Low, double High) Range(double low, double high, double minimumSpan)
    {
        if (high - low < minimumSpan)
        {
            var mid = (low + high) / 2;
            (low, high) = (mid - minimumSpan / 2, mid + minimumSpan / 2);
        }
        var pad = (high - low) * 0.06;
        return (low - pad, high + pad);
    }
}
