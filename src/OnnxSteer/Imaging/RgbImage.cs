using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace OnnxSteer.Imaging;

/// <summary>
/// A small RGB raster with rectangles, outlines and text in a built-in 5×7 bitmap font, saved as PNG (8-bit RGB, no
/// interlace, filter 0, zlib via <see cref="ZLibStream"/>). Enough for the sweep's heat map without a native graphics
/// library: the picture pastes anywhere a PNG does.
/// </summary>
internal sealed class RgbImage
{
    private readonly byte[] _pixels;

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>A <paramref name="width"/> × <paramref name="height"/> image filled with <paramref name="background"/>.</summary>
    public RgbImage(int width, int height, Rgb background)
    {
        if (width < 1 || height < 1 || (long)width * height > 64L << 20) throw new ArgumentOutOfRangeException(nameof(width), "image size out of range");
        (Width, Height) = (width, height);
        _pixels = new byte[width * height * 3];
        FillRect(0, 0, width, height, background);
    }

    /// <summary>The colour at (x, y).</summary>
    public Rgb this[int x, int y] => new(_pixels[(y * Width + x) * 3], _pixels[(y * Width + x) * 3 + 1], _pixels[(y * Width + x) * 3 + 2]);

    /// <summary>Fills a rectangle, clipped to the image.</summary>
    public void FillRect(int x, int y, int width, int height, Rgb colour)
    {
        int x0 = Math.Max(0, x), y0 = Math.Max(0, y), x1 = Math.Min(Width, x + width), y1 = Math.Min(Height, y + height);
        for (var row = y0; row < y1; row++)
        for (var col = x0; col < x1; col++)
        {
            var i = (row * Width + col) * 3;
            (_pixels[i], _pixels[i + 1], _pixels[i + 2]) = (colour.R, colour.G, colour.B);
        }
    }

    /// <summary>A rectangle's outline, <paramref name="thickness"/> pixels wide, inside its bounds.</summary>
    public void StrokeRect(int x, int y, int width, int height, Rgb colour, int thickness = 1)
    {
        FillRect(x, y, width, thickness, colour);
        FillRect(x, y + height - thickness, width, thickness, colour);
        FillRect(x, y, thickness, height, colour);
        FillRect(x + width - thickness, y, thickness, height, colour);
    }

    /// <summary>Pixels <see cref="DrawText"/> needs for <paramref name="text"/> at <paramref name="scale"/>.</summary>
    public static int TextWidth(string text, int scale) => text.Length == 0 ? 0 : (text.Length * (GlyphWidth + 1) - 1) * scale;

    /// <summary>Height of a line of text at <paramref name="scale"/>.</summary>
    public static int TextHeight(int scale) => GlyphHeight * scale;

    /// <summary>A straight line from (x0, y0) to (x1, y1), <paramref name="thickness"/> pixels wide (a square brush stepped along it).</summary>
    public void DrawLine(int x0, int y0, int x1, int y1, Rgb colour, int thickness = 1)
    {
        var steps = Math.Max(Math.Abs(x1 - x0), Math.Abs(y1 - y0));
        for (var i = 0; i <= steps; i++)
        {
            var t = steps == 0 ? 0 : (double)i / steps;
            FillRect((int)Math.Round(x0 + (x1 - x0) * t) - thickness / 2, (int)Math.Round(y0 + (y1 - y0) * t) - thickness / 2, thickness, thickness, colour);
        }
    }

    /// <summary>
    /// Draws <paramref name="text"/> with its top-left corner at (x, y), each font pixel a <paramref name="scale"/>-sized
    /// square. Letters are drawn lower-case; characters the font lacks are drawn as '?'.
    /// </summary>
    public void DrawText(int x, int y, string text, Rgb colour, int scale = 2)
    {
        foreach (var c in text)
        {
            var glyph = Font.Glyph(c);
            for (var row = 0; row < GlyphHeight; row++)
            for (var col = 0; col < GlyphWidth; col++)
                if (glyph[row * GlyphWidth + col] == '#') FillRect(x + col * scale, y + row * scale, scale, scale, colour);
            x += (GlyphWidth + 1) * scale;
        }
    }

    /// <summary>The image as a PNG file's bytes.</summary>
    public byte[] ToPng()
    {
        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, Width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), Height);
        header[8] = 8; // bits per channel
        header[9] = 2; // colour type: RGB
        Chunk(png, "IHDR", header);
        using (var raw = new MemoryStream())
        {
            using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
                for (var row = 0; row < Height; row++)
                {
                    z.WriteByte(0); // filter: none
                    z.Write(_pixels, row * Width * 3, Width * 3);
                }
            Chunk(png, "IDAT", raw.ToArray());
        }
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        s.Write(word);
        var typeBytes = Encoding.ASCII.GetBytes(type);
        s.Write(typeBytes);
        s.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32.Compute(typeBytes, data));
        s.Write(word);
    }

    private const int GlyphWidth = 5, GlyphHeight = 7;

    /// <summary>The CRC-32 (ISO 3309, as PNG chunks use) of the chunk type and data.</summary>
    internal static class Crc32
    {
        private static readonly uint[] Table = Enumerable.Range(0, 256).Select(n =>
        {
            var c = (uint)n;
            for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            return c;
        }).ToArray();

        public static uint Compute(params byte[][] parts)
        {
            var crc = 0xFFFFFFFFu;
            foreach (var part in parts)
                foreach (var b in part)
                    crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
            return crc ^ 0xFFFFFFFFu;
        }
    }

    /// <summary>5×7 glyphs: seven rows of five, top to bottom, separated by spaces; '#' for ink.</summary>
    private static class Font
    {
        private static readonly Dictionary<char, string> Glyphs = new()
        {
            [' '] = "..... ..... ..... ..... ..... ..... .....",
            ['0'] = ".###. #...# #..## #.#.# ##..# #...# .###.",
            ['1'] = "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
            ['2'] = ".###. #...# ....# ...#. ..#.. .#... #####",
            ['3'] = "##### ...#. ..#.. ...#. ....# #...# .###.",
            ['4'] = "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
            ['5'] = "##### #.... ####. ....# ....# #...# .###.",
            ['6'] = "..##. .#... #.... ####. #...# #...# .###.",
            ['7'] = "##### ....# ...#. ..#.. .#... .#... .#...",
            ['8'] = ".###. #...# #...# .###. #...# #...# .###.",
            ['9'] = ".###. #...# #...# .#### ....# ...#. .##..",
            ['.'] = "..... ..... ..... ..... ..... .##.. .##..",
            ['-'] = "..... ..... ..... ##### ..... ..... .....",
            ['+'] = "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
            [':'] = "..... .##.. .##.. ..... .##.. .##.. .....",
            [';'] = "..... .##.. .##.. ..... .##.. ..#.. .#...",
            [','] = "..... ..... ..... ..... .##.. ..#.. .#...",
            ['('] = "...#. ..#.. .#... .#... .#... ..#.. ...#.",
            [')'] = ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
            ['/'] = "....# ...#. ...#. ..#.. .#... .#... #....",
            ['%'] = "##..# ##..# ...#. ..#.. .#... #..## #..##",
            ['='] = "..... ..... ##### ..... ##### ..... .....",
            ['*'] = "..... ..#.. #.#.# .###. #.#.# ..#.. .....",
            ['?'] = ".###. #...# ....# ...#. ..#.. ..... ..#..",
            ['_'] = "..... ..... ..... ..... ..... ..... #####",
            ['|'] = "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
            ['a'] = "..... ..... .###. ....# .#### #...# .####",
            ['b'] = "#.... #.... #.##. ##..# #...# #...# ####.",
            ['c'] = "..... ..... .###. #.... #.... #...# .###.",
            ['d'] = "....# ....# .##.# #..## #...# #...# .####",
            ['e'] = "..... ..... .###. #...# ##### #.... .###.",
            ['f'] = "..##. .#..# .#... ###.. .#... .#... .#...",
            ['g'] = "..... .#### #...# #...# .#### ....# .###.",
            ['h'] = "#.... #.... #.##. ##..# #...# #...# #...#",
            ['i'] = "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",
            ['j'] = "...#. ..... ..##. ...#. ...#. #..#. .##..",
            ['k'] = "#.... #.... #..#. #.#.. ##... #.#.. #..#.",
            ['l'] = ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
            ['m'] = "..... ..... ##.#. #.#.# #.#.# #...# #...#",
            ['n'] = "..... ..... #.##. ##..# #...# #...# #...#",
            ['o'] = "..... ..... .###. #...# #...# #...# .###.",
            ['p'] = "..... ..... ####. #...# ####. #.... #....",
            ['q'] = "..... ..... .##.# #..## .#### ....# ....#",
            ['r'] = "..... ..... #.##. ##..# #.... #.... #....",
            ['s'] = "..... ..... .###. #.... .###. ....# ####.",
            ['t'] = ".#... .#... ###.. .#... .#... .#..# ..##.",
            ['u'] = "..... ..... #...# #...# #...# #..## .##.#",
            ['v'] = "..... ..... #...# #...# #...# .#.#. ..#..",
            ['w'] = "..... ..... #...# #...# #.#.# #.#.# .#.#.",
            ['x'] = "..... ..... #...# .#.#. ..#.. .#.#. #...#",
            ['y'] = "..... ..... #...# #...# .#### ....# .###.",
            ['z'] = "..... ..... ##### ...#. ..#.. .#... #####",
        };

        public static string Glyph(char c)
        {
            c = char.ToLowerInvariant(c);
            return (Glyphs.TryGetValue(c, out var g) ? g : Glyphs['?']).Replace(" ", "");
        }
    }
}

/// <summary>An 8-bit RGB colour.</summary>
internal readonly record struct Rgb(byte R, byte G, byte B)
{
    /// <summary>Parses <c>#rrggbb</c>.</summary>
    public static Rgb Parse(string hex) => new(Convert.ToByte(hex[1..3], 16), Convert.ToByte(hex[3..5], 16), Convert.ToByte(hex[5..7], 16));
}
