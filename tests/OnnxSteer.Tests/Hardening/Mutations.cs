using System.Text;

namespace OnnxSteer.Tests.Hardening;

/// <summary>
/// Byte-level mutations of a seed file, each one a kind of hostile input a reader must survive: bit flips, truncation,
/// protobuf length fields inflated to huge values, deeply nested messages, and fields repeated a huge number of times.
/// Every mutation is a pure function of the seed bytes and the <see cref="Random"/> it is given, so a failure
/// reproduces from its iteration seed.
/// </summary>
internal static class Mutations
{
    /// <summary>Upper bound on a mutated input's size, so a "huge repeated field" stays cheap to write and parse.</summary>
    public const int MaxSize = 2 << 20;

    /// <summary>Flips 1–16 random bits.</summary>
    public static byte[] FlipBits(byte[] seed, Random rng)
    {
        var data = (byte[])seed.Clone();
        if (data.Length == 0) return data;
        var flips = rng.Next(1, 17);
        for (var i = 0; i < flips; i++) data[rng.Next(data.Length)] ^= (byte)(1 << rng.Next(8));
        return data;
    }

    /// <summary>Cuts the file at a random length (possibly zero).</summary>
    public static byte[] Truncate(byte[] seed, Random rng) => seed[..rng.Next(seed.Length + 1)];

    /// <summary>
    /// Replaces the length varint of one length-delimited protobuf field (at any nesting depth) with a huge or
    /// off-by-some value: 100 GB, 4 GB, int.MaxValue, negative, or a little past the end of its parent.
    /// Falls back to bit flips when the seed holds no length-delimited field.
    /// </summary>
    public static byte[] InflateLength(byte[] seed, Random rng)
    {
        var fields = ProtoWalker.LengthFields(seed);
        if (fields.Count == 0) return FlipBits(seed, rng);
        var f = fields[rng.Next(fields.Count)];
        ulong[] claims = [100UL << 30, 4UL << 30, int.MaxValue, uint.MaxValue, ulong.MaxValue, (ulong)f.PayloadLength + 1,
                          (ulong)f.PayloadLength + (ulong)rng.Next(2, 1 << 20), 1UL << 31];
        var claim = claims[rng.Next(claims.Length)];
        return Splice(seed, f.LengthOffset, f.LengthSize, Varint(claim));
    }

    /// <summary>
    /// Appends to a model a graph nested thousands of levels deep (graph → node → attribute → graph → …), the
    /// protobuf equivalent of a zip bomb for a recursive reader.
    /// </summary>
    public static byte[] NestedModelBomb(byte[] seed, Random rng)
    {
        var depth = rng.Next(100, 3_000);
        // GraphProto.node = 1, NodeProto.attribute = 5, AttributeProto.g = 6, ModelProto.graph = 7.
        var inner = Array.Empty<byte>();
        for (var i = 0; i < depth; i++)
        {
            var attribute = Field(6, inner);
            var node = Field(5, attribute);
            inner = Field(1, node);
        }
        return Concat(seed, Field(7, inner));
    }

    /// <summary>Repeats one length-delimited field (a node, an initializer, an opset…) until the file is several MB.</summary>
    public static byte[] RepeatProtoField(byte[] seed, Random rng)
    {
        var fields = ProtoWalker.LengthFields(seed).Where(f => f.Depth == 0).ToList();
        if (fields.Count == 0) return Truncate(seed, rng);
        var f = fields[rng.Next(fields.Count)];
        var whole = seed.AsSpan(f.TagOffset, f.PayloadOffset + f.PayloadLength - f.TagOffset).ToArray();
        var copies = Math.Max(1, Math.Min(rng.Next(1_000, 200_000), (MaxSize - seed.Length) / Math.Max(1, whole.Length)));
        using var output = new MemoryStream();
        output.Write(seed);
        for (var i = 0; i < copies; i++) output.Write(whole);
        return output.ToArray();
    }

    /// <summary>Opens thousands of JSON arrays/objects at a random place (a nesting bomb for a JSON reader).</summary>
    public static byte[] NestedJsonBomb(byte[] seed, Random rng)
    {
        var depth = rng.Next(65, 200_000);
        var open = rng.Next(2) == 0 ? "[" : "{\"a\":";
        var bomb = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(open, depth)));
        var at = JsonValueStart(seed, rng);
        return Splice(seed, at, 0, bomb);
    }

    /// <summary>Duplicates one element of a JSON array many times (a huge repeated field).</summary>
    public static byte[] RepeatJsonElement(byte[] seed, Random rng)
    {
        var text = Encoding.UTF8.GetString(seed);
        var starts = new List<int>();
        for (var i = text.IndexOf('['); i >= 0 && i < text.Length; i = text.IndexOf('[', i + 1)) starts.Add(i);
        if (starts.Count == 0) return Truncate(seed, rng);
        var open = starts[rng.Next(starts.Count)];
        var end = MatchingClose(text, open);
        if (end < 0) return Truncate(seed, rng);
        var element = text.Substring(open + 1, end - open - 1).Trim();
        var comma = TopLevelComma(element);
        if (comma >= 0) element = element[..comma];
        if (element.Length == 0) element = "0";
        var copies = Math.Max(1, Math.Min(rng.Next(1_000, 100_000), (MaxSize - seed.Length) / (element.Length + 1)));
        var repeated = string.Join(",", Enumerable.Repeat(element, copies));
        return Encoding.UTF8.GetBytes(text[..(open + 1)] + repeated + (end - open > 1 && text[(open + 1)..end].Trim().Length > 0 ? "," : "") + text[(open + 1)..]);
    }

    /// <summary>Replaces a JSON number with an extreme one (huge, negative, non-integral, overflowing).</summary>
    public static byte[] ExtremeJsonNumber(byte[] seed, Random rng)
    {
        var text = Encoding.UTF8.GetString(seed);
        var positions = new List<int>();
        for (var i = 0; i < text.Length; i++)
            if ((char.IsDigit(text[i]) || text[i] == '-') && i > 0 && text[i - 1] is ':' or ' ' or '[' or ',') positions.Add(i);
        if (positions.Count == 0) return FlipBits(seed, rng);
        var at = positions[rng.Next(positions.Count)];
        var end = at + 1;
        while (end < text.Length && (char.IsDigit(text[end]) || text[end] is '.' or 'e' or 'E' or '-' or '+')) end++;
        string[] values = ["99999999999999999999", "-1", "2147483648", "-2147483649", "1e308", "1e999", "0.5", "-0", "NaN", "\"x\"", "null"];
        return Encoding.UTF8.GetBytes(text[..at] + values[rng.Next(values.Length)] + text[end..]);
    }

    /// <summary>Sets one int32 length/count field of a llama2.c tokenizer (the header or a token's length) to a huge value.</summary>
    public static byte[] InflateInt32(byte[] seed, Random rng)
    {
        if (seed.Length < 4) return FlipBits(seed, rng);
        var data = (byte[])seed.Clone();
        // Walk the token records so the mutated int is a real length field; the header is offset 0.
        var lengthOffsets = new List<int> { 0 };
        for (var offset = 4; offset + 8 <= data.Length;)
        {
            lengthOffsets.Add(offset + 4);
            var length = BitConverter.ToInt32(data, offset + 4);
            if (length < 0 || length > data.Length) break;
            offset += 8 + length;
        }
        int[] values = [int.MaxValue, int.MinValue, -1, 1 << 30, 1 << 16 + 1, 0];
        BitConverter.GetBytes(values[rng.Next(values.Length)]).CopyTo(data, lengthOffsets[rng.Next(lengthOffsets.Count)]);
        return data;
    }

    /// <summary>Appends many copies of the file's own body (for a llama2.c tokenizer: a vocabulary of millions).</summary>
    public static byte[] RepeatTail(byte[] seed, Random rng)
    {
        if (seed.Length <= 4) return seed;
        var body = seed.AsSpan(4);
        var copies = Math.Max(1, Math.Min(rng.Next(10, 2_000), (MaxSize - seed.Length) / body.Length));
        using var output = new MemoryStream();
        output.Write(seed);
        for (var i = 0; i < copies; i++) output.Write(body);
        return output.ToArray();
    }

    /// <summary>The protobuf varint encoding of <paramref name="value"/>.</summary>
    public static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>();
        do
        {
            var b = (byte)(value & 0x7F);
            value >>= 7;
            bytes.Add(value != 0 ? (byte)(b | 0x80) : b);
        } while (value != 0);
        return bytes.ToArray();
    }

    /// <summary>A length-delimited field: tag (wire type 2), length, payload.</summary>
    public static byte[] Field(int number, byte[] payload) =>
        Concat(Concat(Varint((ulong)number << 3 | 2), Varint((ulong)payload.Length)), payload);

    private static byte[] Concat(byte[] a, byte[] b)
    {
        var result = new byte[a.Length + b.Length];
        a.CopyTo(result, 0);
        b.CopyTo(result, a.Length);
        return result;
    }

    private static byte[] Splice(byte[] data, int offset, int removed, byte[] inserted)
    {
        var result = new byte[data.Length - removed + inserted.Length];
        data.AsSpan(0, offset).CopyTo(result);
        inserted.CopyTo(result, offset);
        data.AsSpan(offset + removed).CopyTo(result.AsSpan(offset + inserted.Length));
        return result;
    }

    private static int JsonValueStart(byte[] seed, Random rng)
    {
        var colons = new List<int>();
        for (var i = 0; i < seed.Length; i++) if (seed[i] == (byte)':') colons.Add(i + 1);
        return colons.Count == 0 ? rng.Next(seed.Length + 1) : colons[rng.Next(colons.Count)];
    }

    private static int MatchingClose(string text, int open)
    {
        var depth = 0;
        var inString = false;
        for (var i = open; i < text.Length; i++)
        {
            var c = text[i];
            if (inString) { if (c == '\\') i++; else if (c == '"') inString = false; continue; }
            if (c == '"') inString = true;
            else if (c is '[' or '{') depth++;
            else if (c is ']' or '}' && --depth == 0) return i;
        }
        return -1;
    }

    private static int TopLevelComma(string element)
    {
        var depth = 0;
        var inString = false;
        for (var i = 0; i < element.Length; i++)
        {
            var c = element[i];
            if (inString) { if (c == '\\') i++; else if (c == '"') inString = false; continue; }
            if (c == '"') inString = true;
            else if (c is '[' or '{') depth++;
            else if (c is ']' or '}') depth--;
            else if (c == ',' && depth == 0) return i;
        }
        return -1;
    }
}

/// <summary>Finds length-delimited fields in protobuf bytes without a schema, descending into payloads that parse as messages.</summary>
internal static class ProtoWalker
{
    /// <summary>Where one length-delimited field sits: its tag, its length varint, its payload.</summary>
    public readonly record struct LengthField(int TagOffset, int LengthOffset, int LengthSize, int PayloadOffset, int PayloadLength, int Depth);

    /// <summary>Every length-delimited field found, to a nesting depth of 8 and at most 4096 fields.</summary>
    public static List<LengthField> LengthFields(byte[] data)
    {
        var found = new List<LengthField>();
        Walk(data, 0, data.Length, 0, found);
        return found;
    }

    private static bool Walk(byte[] data, int start, int end, int depth, List<LengthField> found)
    {
        var mark = found.Count;
        var pos = start;
        while (pos < end)
        {
            var tagOffset = pos;
            if (!TryVarint(data, ref pos, end, out var tag) || tag >> 3 == 0) { found.RemoveRange(mark, found.Count - mark); return false; }
            switch ((int)(tag & 7))
            {
                case 0:
                    if (!TryVarint(data, ref pos, end, out _)) { found.RemoveRange(mark, found.Count - mark); return false; }
                    break;
                case 1: pos += 8; break;
                case 5: pos += 4; break;
                case 2:
                    var lengthOffset = pos;
                    if (!TryVarint(data, ref pos, end, out var length) || length > (ulong)(end - pos)) { found.RemoveRange(mark, found.Count - mark); return false; }
                    if (found.Count < 4096) found.Add(new LengthField(tagOffset, lengthOffset, pos - lengthOffset, pos, (int)length, depth));
                    if (depth < 8 && length > 0) Walk(data, pos, pos + (int)length, depth + 1, found);
                    pos += (int)length;
                    break;
                default: found.RemoveRange(mark, found.Count - mark); return false;
            }
        }
        if (pos == end) return true;
        found.RemoveRange(mark, found.Count - mark);
        return false;
    }

    private static bool TryVarint(byte[] data, ref int pos, int end, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64 && pos < end; shift += 7)
        {
            var b = data[pos++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return true;
        }
        return false;
    }
}
