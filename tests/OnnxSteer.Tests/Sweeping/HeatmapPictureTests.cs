using System.Buffers.Binary;
using System.IO.Compression;
using System.Xml.Linq;
using OnnxSteer.Imaging;
using OnnxSteer.Sweeping;
using OnnxSteer.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace OnnxSteer.Tests.Sweeping;

/// <summary>
/// The sweep's pictures (issue 19, item 5): heatmap.png beside heatmap.svg, both showing fluency beside accuracy. The
/// PNG is decoded here by an independent reader (chunk CRCs, zlib, filter bytes) and its pixels checked.
/// </summary>
public sealed class HeatmapPictureTests(ITestOutputHelper output)
{
    [Fact]
    public void A_drawn_image_decodes_to_the_same_pixels()
    {
        var image = new RgbImage(40, 20, new Rgb(255, 255, 255));
        image.FillRect(2, 3, 5, 4, new Rgb(10, 200, 30));
        image.StrokeRect(20, 2, 10, 10, new Rgb(228, 0, 43), 2);
        image.DrawText(1, 12, "0.5", new Rgb(0, 0, 0), 1);
        var (w, h, pixels) = Decode(image.ToPng());
        Assert.Equal((40, 20), (w, h));
        for (var y = 0; y < h; y++)
        for (var x = 0; x < w; x++)
            Assert.Equal(image[x, y], pixels[y * w + x]);
        Assert.Equal(new Rgb(10, 200, 30), pixels[4 * w + 3]);
        Assert.Equal(new Rgb(228, 0, 43), pixels[2 * w + 20]);
        Assert.Equal(new Rgb(255, 255, 255), pixels[6 * w + 24]); // inside the outline
        // "0" at (1,12): its top row is .###., so (2,12) is ink and (1,12) is not.
        Assert.Equal(new Rgb(0, 0, 0), pixels[12 * w + 2]);
        Assert.Equal(new Rgb(255, 255, 255), pixels[12 * w + 1]);
    }

    [SharedFact]
    public void The_sweep_writes_a_png_and_both_pictures_show_fluency_beside_accuracy()
    {
        var f = SweepFixture.Shared;
        var r = f.Result;
        var pngPath = Path.Combine(f.OutDir, SweepReport.HeatmapPngFile);
        Assert.True(File.Exists(pngPath), "no heatmap.png");
        var (w, h, pixels) = Decode(File.ReadAllBytes(pngPath));
        output.WriteLine($"heatmap.png {w}x{h}");
        Assert.InRange(w, 200, 4000);
        Assert.InRange(h, 100, 4000);

        // The chosen setting is outlined in red in both panels: two separate runs of outline pixels across its row.
        var red = Rgb.Parse(Heatmap.ChosenColour);
        var redColumns = Enumerable.Range(0, w).Where(x => Enumerable.Range(0, h).Any(y => pixels[y * w + x] == red)).ToList();
        Assert.NotEmpty(redColumns);
        var runs = 1 + redColumns.Zip(redColumns.Skip(1)).Count(p => p.Second - p.First > 40);
        Assert.True(runs >= 2, $"the chosen outline is in {runs} place(s); expected it in the accuracy and the fluency panel");

        // No blank third: each third of the width has ink that is not the background.
        var white = new Rgb(255, 255, 255);
        for (var third = 0; third < 3; third++)
        {
            var ink = 0;
            for (var x = third * w / 3; x < (third + 1) * w / 3; x++)
            for (var y = 0; y < h; y++)
                if (pixels[y * w + x] != white) ink++;
            Assert.True(ink > w * h / 300, $"third {third} of the picture is almost blank ({ink} pixels of ink)");
        }

        // The SVG: one fluency cell per setting run, its value the setting's fluency minus the vanilla model's,
        // recomputed here from the results; the colour deepens with the drop.
        var svg = XDocument.Load(Path.Combine(f.OutDir, SweepReport.HeatmapFile));
        XNamespace ns = "http://www.w3.org/2000/svg";
        var fluency = svg.Descendants(ns + "rect").Where(e => ((string?)e.Attribute("class"))?.Split(' ').Contains("fluency") == true).ToList();
        Assert.Equal(r.Settings.Count, fluency.Count);
        foreach (var s in r.Settings)
        {
            var cell = Assert.Single(fluency, e => (string)e.Attribute("data-k")! == s.Setting.K.ToString() &&
                                                   double.Parse((string)e.Attribute("data-alpha")!, System.Globalization.CultureInfo.InvariantCulture) == s.Setting.Alpha);
            var expected = s.Fluency.MeanLogLikelihood - r.VanillaFluency!.MeanLogLikelihood;
            Assert.Equal(expected, double.Parse((string)cell.Attribute("data-fluency-delta")!, System.Globalization.CultureInfo.InvariantCulture), 12);
        }
        var worst = r.Settings.MinBy(s => s.Fluency.MeanLogLikelihood)!;
        var worstFill = (string)fluency.Single(e => (string)e.Attribute("data-k")! == worst.Setting.K.ToString() &&
                                                    double.Parse((string)e.Attribute("data-alpha")!, System.Globalization.CultureInfo.InvariantCulture) == worst.Setting.Alpha).Attribute("fill")!;
        if (worst.Fluency.MeanLogLikelihood < r.VanillaFluency!.MeanLogLikelihood) Assert.Equal("#b2182b", worstFill);
        var width = double.Parse((string)svg.Root!.Attribute("width")!);
        var rightmost = fluency.Max(e => double.Parse((string)e.Attribute("x")!) + double.Parse((string)e.Attribute("width")!));
        Assert.True(rightmost > width * 0.66, $"the SVG's cells end at {rightmost} of {width}: its right third is blank");
    }

    /// <summary>An independent PNG reader for 8-bit RGB, non-interlaced images with filter 0 (what the writer emits).</summary>
    internal static (int Width, int Height, Rgb[] Pixels) Decode(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        int width = 0, height = 0;
        var idat = new MemoryStream();
        var pos = 8;
        var sawEnd = false;
        while (pos < png.Length)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            var type = System.Text.Encoding.ASCII.GetString(png, pos + 4, 4);
            var data = png.AsSpan(pos + 8, length);
            var crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos + 8 + length));
            Assert.Equal(Crc(png.AsSpan(pos + 4, 4 + length)), crc);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                Assert.Equal(new byte[] { 8, 2, 0, 0, 0 }, data[8..13].ToArray());
            }
            else if (type == "IDAT") idat.Write(data);
            else if (type == "IEND") sawEnd = true;
            pos += 12 + length;
        }
        Assert.True(sawEnd);
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        var raw = new MemoryStream();
        z.CopyTo(raw);
        var bytes = raw.ToArray();
        Assert.Equal(height * (1 + width * 3), bytes.Length);
        var pixels = new Rgb[width * height];
        for (var y = 0; y < height; y++)
        {
            var row = y * (1 + width * 3);
            Assert.Equal(0, bytes[row]);
            for (var x = 0; x < width; x++)
                pixels[y * width + x] = new Rgb(bytes[row + 1 + 3 * x], bytes[row + 2 + 3 * x], bytes[row + 3 + 3 * x]);
        }
        return (width, height, pixels);
    }

    /// <summary>CRC-32 computed bit by bit (no table), as the PNG specification's sample code defines it.</summary>
    private static uint Crc(ReadOnlySpan<byte> bytes)
    {
        var c = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            c ^= b;
            for (var k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
        }
        return ~c;
    }
}
