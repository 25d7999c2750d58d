using System.Text;

namespace OnnxSteer.Import;

/// <summary>
/// Writes a llama2.c tokenizer file (tok*.bin) for a synthetic vocabulary of any size from 259 up: ids 0-2 are
/// &lt;unk&gt;, BOS and EOS, 3-258 the byte tokens &lt;0x00&gt;..&lt;0xFF&gt;, then printable ASCII characters, then
/// every pair of them, in that order, scored so that shorter and earlier tokens merge first. Any text encodes (bytes
/// fall back), so every command works on a synthetic model.
/// </summary>
internal static class SyntheticTokenizer
{
    /// <summary>Smallest vocabulary with byte fallback: three specials and 256 byte tokens.</summary>
    public const int MinimumVocab = 259;

    /// <summary>The token pieces, by id.</summary>
    public static string[] Pieces(int vocabSize)
    {
        if (vocabSize < MinimumVocab) throw new ArgumentException($"a synthetic tokenizer needs at least {MinimumVocab} ids, got {vocabSize}");
        var pieces = new List<string>(vocabSize) { "<unk>", "\n<s>\n", "\n</s>\n" };
        for (int b = 0; b < 256; b++) pieces.Add($"<0x{b:X2}>");
        for (int length = 1; pieces.Count < vocabSize; length++)
            foreach (var word in PrintableStrings(length))
            {
                if (pieces.Count == vocabSize) break;
                pieces.Add(word);
            }
        return [.. pieces];
    }

    /// <summary>All strings of <paramref name="length"/> printable ASCII characters, in lexicographic order, lazily.</summary>
    private static IEnumerable<string> PrintableStrings(int length)
    {
        const char first = ' ', last = '~';
        var buffer = Enumerable.Repeat(first, length).ToArray();
        while (true)
        {
            yield return new string(buffer);
            int i = length - 1;
            while (i >= 0 && buffer[i] == last) buffer[i--] = first;
            if (i < 0) yield break;
            buffer[i]++;
        }
    }

    /// <summary>Writes the tok*.bin bytes for <paramref name="vocabSize"/> ids.</summary>
    public static byte[] ToLlama2cBytes(int vocabSize)
    {
        var pieces = Pieces(vocabSize);
        using var memory = new MemoryStream();
        using (var writer = new BinaryWriter(memory, Encoding.UTF8, leaveOpen: true))
        {
            var encoded = pieces.Select(Encoding.UTF8.GetBytes).ToArray();
            writer.Write(encoded.Max(e => e.Length));
            for (int id = 0; id < pieces.Length; id++)
            {
                // Specials and byte tokens score 0; merged tokens score lower the later (longer) they come.
                writer.Write(id < MinimumVocab ? 0f : -(float)(id - MinimumVocab));
                writer.Write(encoded[id].Length);
                writer.Write(encoded[id]);
            }
        }
        return memory.ToArray();
    }
}
