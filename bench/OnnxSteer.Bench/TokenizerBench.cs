using System.Diagnostics;
using System.Text;
using System.Text.Json;
using OnnxSteer.Tokenizers;

namespace OnnxSteer.Bench;

/// <summary>
/// B4: one timed encode pass of a text file, line by line, with OnnxSteer's tokenizer; bench/run.sh alternates it with
/// bench/node/encode.mjs (@huggingface/tokenizers) on the same file. Both warm up on the first 5% of the lines.
/// </summary>
public static class TokenizerBench
{
    public static int EncodeOnce(string tokenizerJson, string textFile)
    {
        var tokenizer = TokenizerLoader.Load(tokenizerJson);
        var text = File.ReadAllText(textFile);
        var lines = text.Split('\n');
        long Encode(IEnumerable<string> list)
        {
            long n = 0;
            foreach (var l in list) n += tokenizer.EncodeToIds(l, addBos: false).Count;
            return n;
        }
        Encode(lines.Take((lines.Length + 19) / 20));
        var clock = Stopwatch.StartNew();
        var ids = Encode(lines);
        var seconds = clock.Elapsed.TotalSeconds;
        var megabytes = Encoding.UTF8.GetByteCount(text) / 1e6;
        Console.WriteLine(JsonSerializer.Serialize(new { implementation = "OnnxSteer", megabytes, lines = lines.Length, ids, seconds, mbps = megabytes / seconds }));
        return 0;
    }

    /// <summary>
    /// The B4 text: every string value of the JSONL task files under ../shared/data (prompts, passages, questions,
    /// answers: English prose, toxic web text with its odd Unicode, numbers in word problems), one per line, repeated
    /// to at least 3 MB. Written once.
    /// </summary>
    public static int WriteText(string output)
    {
        if (File.Exists(output)) return 0;
        var root = Path.Combine(FindRepoRoot(), "..", "shared", "data");
        var lines = new List<string>();
        foreach (var file in Directory.EnumerateFiles(root, "*.jsonl", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            foreach (var line in File.ReadLines(file))
            {
                if (string.IsNullOrWhiteSpace(line)) continue;
                using var doc = JsonDocument.Parse(line);
                Collect(doc.RootElement, lines);
            }
        var sb = new StringBuilder();
        while (Encoding.UTF8.GetByteCount(sb.ToString()) < 3_000_000)
            foreach (var l in lines) sb.Append(l.Replace('\n', ' ').Replace('\r', ' ')).Append('\n');
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
        File.WriteAllText(output, sb.ToString().TrimEnd('\n'));
        return 0;
    }

    private static void Collect(JsonElement e, List<string> into)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String:
                if (e.GetString() is { Length: > 0 } s) into.Add(s);
                break;
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject()) Collect(p.Value, into);
                break;
            case JsonValueKind.Array:
                foreach (var x in e.EnumerateArray()) Collect(x, into);
                break;
        }
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "OnnxSteer.sln"))) return d.FullName;
        return Directory.GetCurrentDirectory();
    }
}
