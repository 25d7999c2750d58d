using System.Text;
using System.Text.Json;
using OnnxSteer.Tests.Infrastructure;
using OnnxSteer.Tokenizers;
using Xunit;

namespace OnnxSteer.Tests.Tokenizers;

/// <summary>
/// stories260K's tok512.bin: the file reader, and the tokenizer.json written from it checked against llama2.c's own
/// encoder (ported below from run.c as an independent reference).
/// </summary>
public sealed class Llama2cTokenizerTests
{
    private static string TokPath => Path.Combine(SharedData.Stories260KDir, "tok512.bin");

    /// <summary>llama2.c run.c <c>encode</c>: dummy " " prefix, code points (else bytes + 3), then repeatedly merge the
    /// adjacent pair whose concatenation is a token with the highest score (leftmost on ties).</summary>
    private static List<int> ReferenceEncode(Llama2cTokenizerFile tok, string text, bool bos)
    {
        var lookup = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < tok.VocabSize; i++) lookup.TryAdd(tok.Pieces[i], i);
        var tokens = new List<int>();
        if (bos) tokens.Add(1);
        if (text.Length > 0) tokens.Add(lookup[" "]);
        var bytes = Encoding.UTF8.GetBytes(text);
        var buffer = new List<byte>();
        for (var c = 0; c < bytes.Length; c++)
        {
            if ((bytes[c] & 0xC0) != 0x80) buffer.Clear();
            buffer.Add(bytes[c]);
            if (c + 1 < bytes.Length && (bytes[c + 1] & 0xC0) == 0x80 && buffer.Count < 4) continue;
            if (lookup.TryGetValue(Encoding.UTF8.GetString(buffer.ToArray()), out var id)) tokens.Add(id);
            else foreach (var b in buffer) tokens.Add(b + 3);
            buffer.Clear();
        }
        while (true)
        {
            var bestScore = -1e10f;
            int bestId = -1, bestIndex = -1;
            for (var i = 0; i < tokens.Count - 1; i++)
            {
                if (lookup.TryGetValue(tok.Pieces[tokens[i]] + tok.Pieces[tokens[i + 1]], out var id) && tok.Scores[id] > bestScore)
                {
                    bestScore = tok.Scores[id];
                    bestId = id;
                    bestIndex = i;
                }
            }
            if (bestIndex < 0) break;
            tokens[bestIndex] = bestId;
            tokens.RemoveAt(bestIndex + 1);
        }
        return tokens;
    }

    /// <summary>Real English text (COPA, SVAMP) plus the Llama-2 fixture strings that llama2.c can take: no NUL (C string
    /// end), no literal "&lt;s&gt;"-style tokens (tokenizer.json splits those out, llama2.c does not), no literal "▁".</summary>
    private static List<string> TestStrings()
    {
        var strings = new List<string>();
        foreach (var line in File.ReadLines(SharedData.Path("data", "copa", "val.jsonl")).Take(60))
        {
            using var doc = JsonDocument.Parse(line);
            strings.Add(doc.RootElement.GetProperty("premise").GetString()!);
            strings.Add(doc.RootElement.GetProperty("choice1").GetString()! + " " + doc.RootElement.GetProperty("choice2").GetString());
        }
        using (var svamp = JsonDocument.Parse(File.ReadAllText(SharedData.Path("data", "svamp", "test.json"))))
            foreach (var item in svamp.RootElement.EnumerateArray().Take(40))
                strings.Add(item.GetProperty("Body").GetString() + " " + item.GetProperty("Question").GetString());
        var fixture = Path.Combine(SharedData.RepoRoot, "tests", "OnnxSteer.Tests", "Tokenizers", "Fixtures", "llama2-expected.json");
        using (var doc = JsonDocument.Parse(File.ReadAllText(fixture)))
            strings.AddRange(doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("text").GetString()!)
                .Where(s => !s.Contains('\0') && !s.Contains('▁') && !s.Contains("<s>") && !s.Contains("</s>") && !s.Contains("<unk>")));
        return strings;
    }

    [SharedFact]
    public void Reads_the_header_scores_and_pieces_of_tok512()
    {
        var tok = Llama2cTokenizerFile.Read(TokPath);
        Assert.Equal(512, tok.VocabSize);
        Assert.Equal(7, tok.MaxTokenLength);
        Assert.Equal("\n<s>\n", tok.Pieces[1]);
        Assert.Equal("<0x0A>", tok.Pieces[3 + 0x0A]);
        Assert.Equal(" t", tok.Pieces[259]);
        Assert.Equal(-1f, tok.Scores[260]);
        Assert.Equal("<s>", tok.TokenName(1));
        Assert.Equal("▁the", tok.TokenName(tok.Pieces.ToList().IndexOf(" the")));
    }

    [SharedFact]
    public void Written_tokenizer_json_encodes_exactly_like_llama2c()
    {
        var tok = Llama2cTokenizerFile.Read(TokPath);
        var tokenizer = TokenizerLoader.FromJson(tok.ToTokenizerJson());
        var strings = TestStrings();
        Assert.True(strings.Count >= 300, $"only {strings.Count} strings");
        var mismatches = strings
            .Select(s => (s, Expected: ReferenceEncode(tok, s, bos: true), Actual: tokenizer.EncodeToIds(s, addBos: true)))
            .Where(x => !x.Expected.SequenceEqual(x.Actual))
            .Select(x => $"{JsonSerializer.Serialize(x.s)}: llama2.c [{string.Join(',', x.Expected)}] ours [{string.Join(',', x.Actual)}]")
            .ToList();
        Assert.True(mismatches.Count == 0, $"{mismatches.Count}/{strings.Count} differ:\n" + string.Join('\n', mismatches.Take(10)));
    }

    [SharedFact]
    public void Written_tokenizer_decodes_back_to_the_text()
    {
        var tokenizer = TokenizerLoader.Load(TokPath);
        foreach (var s in TestStrings()) Assert.Equal(s, tokenizer.Decode(tokenizer.EncodeToIds(s)));
    }

    [SharedFact]
    public void Bos_and_eos_are_1_and_2_from_the_bin_and_from_written_files()
    {
        var fromBin = TokenizerLoader.LoadBpe(TokPath);
        Assert.Equal((1, 2, 512), (fromBin.BosTokenId, fromBin.EosTokenId, fromBin.VocabSize));
        Assert.Equal([1], fromBin.PrefixIds);

        var folder = Path.Combine(Path.GetTempPath(), "onnxsteer-tok-" + Guid.NewGuid().ToString("N"));
        try
        {
            Llama2cTokenizerFile.Read(TokPath).WriteHuggingFaceFiles(folder);
            var fromFiles = TokenizerLoader.Load(folder);
            Assert.Equal((1, 2, 512), (fromFiles.BosTokenId, fromFiles.EosTokenId, fromFiles.VocabSize));
            const string text = "Once upon a time, there was a little girl named Lily.";
            Assert.Equal(fromBin.EncodeToIds(text), fromFiles.EncodeToIds(text));
            Assert.Equal(ReferenceEncode(Llama2cTokenizerFile.Read(TokPath), text, bos: true), fromFiles.EncodeToIds(text));
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Truncated_or_foreign_files_are_rejected_with_the_file_name()
    {
        var path = Path.Combine(Path.GetTempPath(), "onnxsteer-badtok-" + Guid.NewGuid().ToString("N") + ".bin");
        try
        {
            // Header, then one token claiming 100 bytes with only 3 present.
            File.WriteAllBytes(path, [7, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, (byte)'a', (byte)'b', (byte)'c']);
            var e = Assert.Throws<InvalidTokenizerException>(() => Llama2cTokenizerFile.Read(path));
            Assert.Contains(path, e.Message);
            Assert.Contains("beyond the end", e.Message);

            File.WriteAllBytes(path, Encoding.ASCII.GetBytes("{\"not\": \"a tokenizer\"}"));
            e = Assert.Throws<InvalidTokenizerException>(() => Llama2cTokenizerFile.Read(path));
            Assert.Contains(path, e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
