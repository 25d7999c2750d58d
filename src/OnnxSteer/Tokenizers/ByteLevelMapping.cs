namespace OnnxSteer.Tokenizers;

/// <summary>
/// GPT-2's reversible byte-to-character table: every byte gets a printable, non-whitespace character so BPE can work
/// on text made only of visible characters. Printable Latin-1 bytes map to themselves, the rest to U+0100 onwards.
/// </summary>
internal static class ByteLevelMapping
{
    /// <summary>Character standing for each byte value.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>Byte value for each mapped character, -1 for characters outside the table (index = char code, size 0x200).</summary>
    public static readonly short[] CharToByte = BuildCharToByte();

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var extra = 0;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)(256 + extra++);
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var inverse = new short[0x200];
        Array.Fill(inverse, (short)-1);
        for (var b = 0; b < 256; b++) inverse[ByteToChar[b]] = (short)b;
        return inverse;
    }
}
